/**
 * How long a door's redirected browsers take to reach their servers, learnt from the
 * servers' own figures (issue 27, D42).
 *
 * Between two sets of a server's figures, measured at `from` and `to`, the requests that
 * arrived there are exactly (in it now) − (in it then) + (finished in between). Some of them
 * are this door's referrals, made one round trip L earlier: in (from − L, to − L]. The rest
 * (other doors, users who went straight there, follow-ups of a session) do not depend on
 * when this door sent its own. So the mean of (arrivals − referrals in the window shifted by
 * L)² over many intervals is least at the true L: shifted wrongly, the door's own random
 * ups and downs no longer cancel. The door keeps that mean for every L from 0 to MAX_LAG in
 * LAG_STEP steps and takes the least. Until it has seen MIN_SAMPLES intervals it says the
 * configured value.
 *
 * Pure: the caller passes the arrivals, the interval and a way to count its referrals.
 *
 * @example
 * const rt = new RoundTripEstimate(80);
 * rt.add(12, 1000, 1025, (a, b) => referralsBetween(a, b));
 * rt.value; // 80 until enough intervals are in
 */

export const LAG_STEP = 5;
export const MAX_LAG = 300;
/** Intervals before the estimate replaces the configured value. */
export const MIN_SAMPLES = 400;
/** Intervals' worth of memory: the estimate follows a change within a few seconds. */
const MEMORY = 4000;
/** Once learnt, the share of intervals looked at: one in this many. */
const LEARNT_EVERY = 4;
/** An interval longer than this is not one report interval: a report went missing. */
const MAX_INTERVAL = 500;

export class RoundTripEstimate {
  private readonly err = new Float64Array(Math.floor(MAX_LAG / LAG_STEP) + 1);
  private samples = 0;
  private skipped = 0;
  private best: number;

  constructor(private readonly initial: number) {
    this.best = initial;
  }

  /** Enough intervals are in for the estimate to stand. */
  get learnt(): boolean {
    return this.samples >= MIN_SAMPLES;
  }

  /** The typical round trip, ms: learnt, or the configured value until then. */
  get value(): number {
    return this.learnt ? this.best : this.initial;
  }

  /**
   * One server's interval (from, to]: `arrivals` came in, and `sent(a, b)` counts this
   * door's referrals to it made in (a, b].
   */
  add(arrivals: number, from: number, to: number, sent: (a: number, b: number) => number): void {
    if (!(to > from) || to - from > MAX_INTERVAL || !Number.isFinite(arrivals)) return;
    // Once learnt, one interval in LEARNT_EVERY is enough to follow a change (within a few
    // tens of seconds), at a quarter of the cost: each interval counts referrals at 61 lags.
    if (this.samples >= MIN_SAMPLES && ++this.skipped % LEARNT_EVERY !== 0) return;
    const keep = 1 - 1 / MEMORY;
    let least = Infinity;
    for (let k = 0; k < this.err.length; k++) {
      const L = k * LAG_STEP;
      const d = arrivals - sent(from - L, to - L);
      const e = this.err[k]! * keep + d * d;
      this.err[k] = e;
      if (e < least) {
        least = e;
        this.best = L;
      }
    }
    this.samples++;
  }
}
