/**
 * The referral adjustment: each referral counts against its server for a while, so a burst
 * does not all land on one server before new figures arrive.
 *
 * Document 002 says the LM "is incremented" by ε after each referral, but a larger LM means
 * more spare capacity, so incrementing would attract still more traffic, and a fixed ε that
 * never fades would drift the shares over a long run. Here (see docs/decisions.md):
 *
 * - every referral adds one to its server's decayed count A (half-life configurable), and
 *   every pick adds one to the pool's decayed count N;
 * - the server *should* have had E = share × N of them, share = LM / ΣLM;
 * - the server's weight is LM × factor, factor = 1 − (A − E) / (units × perUnit), clamped to
 *   [MIN_FACTOR, MAX_FACTOR], where units = C / 1,000.
 *
 * A server that got more than its share recently weighs less, one that got less weighs
 * more. The correction is centred on the metric's own shares, so it only smooths: in the
 * long run shares follow the metrics exactly (the core's tests check capacities 1, 1, 2, 4
 * at rates from 1 to 100,000 per second), and the clamp keeps every server in rotation.
 */

/** A count that halves every half-life. */
export interface DecayedCount {
  value: number;
  /** Clock reading (ms) of the last update. */
  at: number;
}

export interface ReferralParams {
  /** Half-life of a referral's effect in ms. */
  halfLife: number;
  /** Referrals above its share, per capacity unit, that take a server's weight to zero before the clamp. */
  perUnit: number;
}

export const DEFAULT_REFERRAL_PARAMS: ReferralParams = { halfLife: 1000, perUnit: 4 };
export const MIN_FACTOR = 0.1;
export const MAX_FACTOR = 1.9;

export function newCount(now: number): DecayedCount {
  return { value: 0, at: now };
}

/**
 * The count at `now`, without changing it.
 *
 * @example
 * countAt({ value: 8, at: 0 }, 1000, 1000); // 4
 */
export function countAt(c: DecayedCount, now: number, halfLife: number): number {
  const dt = now - c.at;
  if (dt <= 0 || c.value === 0) return c.value;
  return c.value * 2 ** (-dt / halfLife);
}

/** Adds one at `now`. */
export function bump(c: DecayedCount, now: number, halfLife: number): void {
  c.value = countAt(c, now, halfLife) + 1;
  c.at = now;
}

/**
 * The weight factor for a server given its recent referrals A, the ones it should have had
 * E, and its static capacity C.
 *
 * @example
 * referralFactor(10, 10, 2000, DEFAULT_REFERRAL_PARAMS); // 1: exactly its share
 * referralFactor(14, 10, 2000, DEFAULT_REFERRAL_PARAMS); // 0.5: four too many for 2 units
 */
export function referralFactor(A: number, E: number, C: number, params: ReferralParams): number {
  const units = C / 1000;
  const f = 1 - (A - E) / (units * params.perUnit);
  return f < MIN_FACTOR ? MIN_FACTOR : f > MAX_FACTOR ? MAX_FACTOR : f;
}
