/**
 * The two sources of change the core may not reach for itself. Components pass the real
 * ones (`performance.now`, `Math.random`); tests pass fakes.
 *
 * @example
 * const clock: Clock = () => performance.now();
 * const random: Random = Math.random;
 */

/** Milliseconds on a monotonic scale; only differences between readings matter. */
export type Clock = () => number;

/** A number in [0, 1). */
export type Random = () => number;

/**
 * A small seeded generator (mulberry32) for tests and simulations that must repeat.
 *
 * @example
 * const r = seededRandom(42); r(); // always the same first value
 */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A clock that moves only when told to.
 *
 * @example
 * const c = manualClock(); c.advance(500); c.now(); // 500
 */
export function manualClock(start = 0): { now: Clock; advance(ms: number): void; set(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
    set(ms: number) {
      t = ms;
    },
  };
}
