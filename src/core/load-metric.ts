/**
 * The load metric of document 002, section IX: a larger LM means more spare capacity.
 *
 * Static capacity C comes from the operator's 1..10 scaled to 1,000..10,000. The manager's
 * dynamic value L (0..10,000, 10,000 = serves fastest) fades into C as it ages:
 * P = min(1, age / T), LM = P·C + (1 − P)·L.
 */

/** One capacity step in metric units: capacity 1 is 1,000, capacity 10 is 10,000. */
export const CAPACITY_UNIT = 1000;
export const MIN_CAPACITY = 1;
export const MAX_CAPACITY = 10;
export const MAX_LOAD_VALUE = 10_000;

/**
 * Scales an operator capacity (1..10) to the static capacity C.
 *
 * @example
 * staticCapacity(2); // 2000
 */
export function staticCapacity(capacity: number): number {
  if (!Number.isFinite(capacity) || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY) {
    throw new RangeError(`capacity must be between ${MIN_CAPACITY} and ${MAX_CAPACITY}, got ${capacity}`);
  }
  return capacity * CAPACITY_UNIT;
}

/** The dynamic part of a server's metric, as last received. */
export interface DynamicLoad {
  /** L, 0..10,000. */
  value: number;
  /** Clock reading (ms) at which the figures behind L were measured. */
  measuredAt: number;
}

/**
 * LM for one server at time `now`. Without a dynamic value, LM = C.
 *
 * @example
 * // T = 20 min, C = 2,000, L = 1,000 received at 0: LM is 1,250 five minutes later.
 * loadMetric(2000, { value: 1000, measuredAt: 0 }, 20 * 60_000, 5 * 60_000); // 1250
 */
export function loadMetric(C: number, dynamic: DynamicLoad | undefined, T: number, now: number): number {
  if (dynamic === undefined) return C;
  const L = Math.min(MAX_LOAD_VALUE, Math.max(0, dynamic.value));
  // A reading from the future (clock skew between hosts) counts as fresh, never as negative age.
  const age = Math.max(0, now - dynamic.measuredAt);
  const P = T <= 0 ? 1 : Math.min(1, age / T);
  return P * C + (1 - P) * L;
}
