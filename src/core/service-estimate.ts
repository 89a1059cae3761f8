/**
 * A server's service time as a door estimates it from the interval figures its interface
 * reports (mean service time and how many requests finished), for the queue choice.
 *
 * Three things pull against each other (issue 27, docs/decisions.md D38):
 *
 * - **Noise.** With long-tailed service (lognormal, σ 1.5) a mean over 30 requests is off by
 *   about ±50 %, and the ranking follows the noise. So the estimate used is a mean over about
 *   the last LONG_MEMORY requests.
 * - **Change.** A server that slows down (or speeds up again) must show it within a fraction
 *   of a second. So a second, short mean over about SHORT_MEMORY requests runs beside it, and
 *   while the two differ by more than CHANGE_Z standard errors of the short one (from the
 *   spread the server's own intervals show), the estimate is the short mean, and the long
 *   one starts again from it.
 * - **Starvation.** A server that looked slow gets no requests, so nothing would ever move
 *   its estimate again, and a recovered server stayed starved for good. So while the figures
 *   show the server with free slots, nothing waiting and nothing finished, the estimate
 *   relaxes towards a reference (the other servers' median estimate), halving its distance
 *   in log terms every RELAX_HALF_LIFE (slower in proportion as its slots are busy), and its
 *   past weighs less in proportion. A relaxed server soon gets
 *   a request, whose completion says whether it really is fast again; while one that is
 *   still slow holds it, it relaxes slower and is tried less.
 *
 * Pure: the caller passes the figures' measuring time and the reference.
 *
 * @example
 * const e = newServiceEstimate();
 * updateService(e, { mean: 20, n: 50, free: 0.5 }, 0, 20);
 * e.value; // 20
 */

/** Requests' worth of memory in the estimate that ranks servers. */
export const LONG_MEMORY = 300;
/** Requests' worth of memory in the short mean that detects a change. */
export const SHORT_MEMORY = 30;
/** Standard errors of the short mean beyond which the long one starts again from it. */
export const CHANGE_Z = 2.5;
/** Standard errors of an interval's mean above the estimate at which the change test clips it. */
export const CLIP_Z = 4;
/** How fast an idle server's estimate relaxes towards the reference (its half-life), ms. */
export const RELAX_HALF_LIFE = 250;
/**
 * Service times of a stall forgiven before it counts: a server whose busy slots finish nothing
 * for longer than STALL_GRACE times its estimate is taken to be at least as slow as the stall
 * is long, less that grace (with exponential service and two busy slots, a healthy server goes
 * that long without a completion one time in 400).
 */
export const STALL_GRACE = 2;
/**
 * A trial fails when the first completions after the estimate relaxed take more than this many
 * times the relaxed estimate: the next relaxation is twice as slow, up to MAX_BACKOFF doublings.
 * One good trial ends the back-off, so a server that really recovered is not held back.
 */
export const TRIAL_FAIL = 4;
export const MAX_BACKOFF = 1;
/** How fast a stall is forgotten while the server has nothing to do (its half-life), ms. */
export const STALL_HALF_LIFE = 1000;
/** Longest gap between two figures that counts as relaxing time (a link outage does not). */
const MAX_RELAX_STEP = 1000;

export interface ServiceEstimate {
  /** The estimate, ms (0: none yet). */
  value: number;
  /** The short mean, ms. */
  short: number;
  /** Requests behind the long mean since it last started, at most LONG_MEMORY. */
  weight: number;
  /** Requests behind the short mean, at most SHORT_MEMORY. */
  shortWeight: number;
  /** Squared coefficient of variation of one request's service time, as the intervals show it. */
  cv2: number;
  /** Measuring time of the last figures taken, ms. */
  at: number;
  /**
   * ms the server has held requests (busy or waiting) without finishing any (issue 27): a
   * hung server finishes nothing, so its mean never moves; this does. Forgotten slowly while
   * it is idle, at once when a request finishes.
   */
  stall: number;
  /** The relaxed estimate a trial is judged against (0: no trial pending). */
  trial: number;
  /** Doublings of the relaxation's half-life after failed trials, 0..MAX_BACKOFF. */
  backoff: number;
}

export interface IntervalService {
  /** Mean service time of the requests finished in the interval, ms. */
  mean: number;
  /** Requests finished in the interval. */
  n: number;
  /** Share of the server's slots free at the end of the interval with nothing waiting (0..1). */
  free: number;
}

export function newServiceEstimate(): ServiceEstimate {
  return {
    value: 0,
    short: 0,
    weight: 0,
    shortWeight: 0,
    cv2: 1,
    at: Number.NaN,
    stall: 0,
    trial: 0,
    backoff: 0,
  };
}

/**
 * The service time the queue choice uses: the estimate, or longer while the server's busy
 * slots have finished nothing for more than STALL_GRACE estimates. A hung server's trial
 * requests thus push it out of the choice within a second, and each new stall keeps it out
 * longer (the stall is forgotten with a half-life of STALL_HALF_LIFE only while it is idle):
 * a back-off between trials that costs a recovered server nothing, since its first
 * completion clears the stall.
 */
export function serviceFor(e: ServiceEstimate): number {
  return Math.max(e.value, e.stall - STALL_GRACE * e.value);
}

/**
 * Takes one interval's figures measured at `now`. `reference` is what a healthy server of
 * this pool takes (0: none known), the point an empty server's estimate relaxes towards.
 */
export function updateService(e: ServiceEstimate, f: IntervalService, now: number, reference: number): void {
  const dt = Number.isFinite(e.at) ? Math.min(MAX_RELAX_STEP, Math.max(0, now - e.at)) : 0;
  e.at = now;
  if (f.n > 0) e.stall = 0;
  else if (f.free < 1) e.stall += dt;
  else if (e.stall > 0) e.stall *= 2 ** (-dt / STALL_HALF_LIFE);
  if (f.n > 0 && f.mean > 0) {
    // The verdict on a relaxed estimate: the server was as slow as before, or it is back.
    const failed = e.trial > 0 && f.mean > TRIAL_FAIL * e.trial;
    if (e.trial > 0) {
      e.backoff = failed ? Math.min(MAX_BACKOFF, e.backoff + 1) : 0;
      e.trial = 0;
    }
    if (failed) {
      // Evidence, not noise: the relaxed guess was wrong, and the estimate starts again from
      // what the trial took (the change test would clip it to a few times the guess).
      e.value = e.short = f.mean;
      e.weight = Math.min(LONG_MEMORY, f.n);
      e.shortWeight = Math.min(SHORT_MEMORY, f.n);
    } else take(e, f.mean, f.n);
  } else if (f.free > 0 && e.value > 0 && reference > 0 && dt > 0) {
    // Relaxing in proportion to the free slots: a server whose trial requests are stuck
    // (still slow) stops being tried more, while a free one is tried again soon; after a
    // failed trial, more slowly (the back-off).
    const keep = 2 ** ((-dt / (RELAX_HALF_LIFE * 2 ** e.backoff)) * Math.min(1, f.free));
    // A trial is what a server far slower than the others gets once it relaxed; a healthy
    // server's idle moments are not one (its next request's noise would pass for a verdict).
    const judged = e.trial > 0 || e.value > 2 * reference;
    e.value = reference * (e.value / reference) ** keep;
    e.short = reference * (e.short / reference) ** keep;
    // A relaxed estimate is a guess: the next completions count for as much as the past.
    e.weight *= keep;
    e.shortWeight *= keep;
    if (judged) e.trial = e.value;
  }
}

function take(e: ServiceEstimate, mean: number, n: number): void {
  if (!(e.value > 0)) {
    e.value = e.short = mean;
    e.weight = Math.min(LONG_MEMORY, n);
    e.shortWeight = Math.min(SHORT_MEMORY, n);
    return;
  }
  // The change test reads a winsorised mean: with long-tailed service one request in a
  // thousand takes fifty times the mean, and that alone must not pass for a change. A real
  // slowdown moves every interval and passes the bound as it rises.
  const bound = e.value * (1 + CLIP_Z * Math.sqrt(e.cv2 / n));
  const dev = (mean - e.short) / e.short;
  e.short += ((Math.min(mean, bound) - e.short) * n) / (n + e.shortWeight);
  e.shortWeight = Math.min(SHORT_MEMORY, e.shortWeight + n);
  e.value += ((mean - e.value) * n) / (n + e.weight);
  e.weight = Math.min(LONG_MEMORY, e.weight + n);
  // The short mean's own spread: a count-weighted moving mean over about m requests has
  // variance of about cv² / 2m once full (cv² / m while it fills).
  const z = Math.abs(e.short - e.value) / (e.value * Math.sqrt(e.cv2 / (e.shortWeight + SHORT_MEMORY)));
  if (z > CHANGE_Z) {
    // A change: the long mean starts again from the short one, and follows it until the two
    // agree again.
    e.value = e.short;
    e.weight = e.shortWeight;
  } else {
    // One request's relative spread, from how far each interval's mean strays from the
    // short mean: an interval of n has variance cv² / n around it. Learnt slowly, bounded,
    // and only while the level holds, so that a change does not pass for spread.
    e.cv2 += ((Math.min(100, n * dev * dev) - e.cv2) * n) / (n + LONG_MEMORY);
  }
}
