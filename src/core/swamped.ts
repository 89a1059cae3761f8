import type { LoadLevelName } from './thresholds.js';

/**
 * Whether an application is swamped (document 002, section V): so loaded that moving users
 * around only adds work. Then the manager puts every available server back in rotation and
 * stops all server-side redirecting until the load falls. Three signs, any one suffices:
 *
 * - `overloaded`: servers holding more than `outShare` of its capacity are heavily loaded
 *   or worse (the document's example is "more than a third" of the servers; with two servers
 *   that would swamp the site as soon as one is busy, so the default is a half: see
 *   docs/decisions.md). Capacity, not a head count: with servers of 2, 2, 4 and 8 slots, the
 *   two strong ones heavy left three quarters of the site out while the two weak ones took
 *   every new user (issue 27, the simulator's flash-crowd);
 * - `all-heavy`: every server is heavily loaded, however few there are;
 * - `no-room`: the servers at their normal level have less room left (what they can serve
 *   less what they get) than the heavy ones are getting, so taking those out of rotation
 *   only moves their queues (issue 27: one strong server heavy in an overload starved while
 *   the weak ones overflowed);
 * - `thrashing`: its servers changed load level more than `thrashFlips` times within
 *   `thrashWindow` ms: users are being sent back and forth.
 *
 * None of them while a server is idle (a free slot, nothing waiting, at its normal level):
 * then moving users to it is exactly what helps (issue 27: the README's demo was called
 * swamped while two of its three servers sat idle).
 *
 * @example
 * swampedReason(['heavy', 'heavy', 'normal'], [], DEFAULT_SWAMP_PARAMS, 0); // 'overloaded'
 */

export interface SwampParams {
  outShare: number;
  thrashFlips: number;
  thrashWindow: number;
}

export const DEFAULT_SWAMP_PARAMS: SwampParams = { outShare: 0.5, thrashFlips: 8, thrashWindow: 60_000 };

export type SwampReason = 'all-heavy' | 'overloaded' | 'no-room' | 'thrashing';

/**
 * Why the application is swamped, or undefined. `levels` are its servers' load levels
 * (failed or disabled servers left out); `flips` the clock readings of their level changes;
 * `idle` how many of them are idle; `weights` their capacities (slots; default 1 each);
 * `noRoom` whether the normal ones lack room for what the heavy ones get.
 */
export function swampedReason(
  levels: readonly LoadLevelName[],
  flips: readonly number[],
  p: SwampParams,
  now: number,
  idle = 0,
  weights?: readonly number[],
  noRoom = false,
): SwampReason | undefined {
  if (idle > 0) return undefined;
  if (levels.length > 0) {
    let heavy = 0;
    let total = 0;
    levels.forEach((l, i) => {
      const w = weights?.[i] ?? 1;
      total += w;
      if (l !== 'normal') heavy += w;
    });
    if (levels.every((l) => l !== 'normal')) return 'all-heavy';
    if (total > 0 && heavy / total > p.outShare) return 'overloaded';
  }
  if (noRoom) return 'no-room';
  let recent = 0;
  for (const t of flips) if (now - t <= p.thrashWindow) recent++;
  if (recent > p.thrashFlips) return 'thrashing';
  return undefined;
}

/** Drops flips older than the window, so the list stays short. Returns a new array. */
export function recentFlips(flips: readonly number[], p: SwampParams, now: number): number[] {
  return flips.filter((t) => now - t <= p.thrashWindow);
}
