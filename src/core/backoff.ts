import type { Random } from './random.js';

/**
 * Growing delays between attempts: a link reconnecting to the manager, the watcher
 * restarting a component (document 002 FIG. 10). The delay grows by `factor` for each
 * failed attempt up to `maxAttempts` (the document's A_max) and stays there. Jitter spreads
 * many components that lost the manager at once, so they do not all return in step.
 *
 * @example
 * const p = { initial: 500, factor: 2, maxAttempts: 6, jitter: 0.2 };
 * backoffDelay(0, p, () => 0);   // 500
 * backoffDelay(3, p, () => 0);   // 4000
 * backoffDelay(99, p, () => 0);  // 16000: constant from attempt 5 on
 */

export interface BackoffParams {
  /** Delay after the first failure, ms. */
  initial: number;
  /** Growth per failed attempt. */
  factor: number;
  /** Attempts after which the delay stops growing (A_max). */
  maxAttempts: number;
  /** Share of the delay taken off at random, 0..1. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffParams = { initial: 250, factor: 2, maxAttempts: 6, jitter: 0.25 };

/**
 * Links to the manager: full jitter (any delay from 0 to the full one), because every
 * component of a site loses the manager at the same moment when it restarts, and a quarter's
 * jitter still brought them all back within about 60 ms of each other (issue 28).
 */
export const LINK_BACKOFF: BackoffParams = { initial: 500, factor: 2, maxAttempts: 5, jitter: 1 };

/** The delay before attempt number `attempt + 1`, after `attempt` failures in a row (0-based). */
export function backoffDelay(attempt: number, p: BackoffParams, random: Random): number {
  const n = Number.isFinite(attempt) ? Math.max(0, Math.floor(attempt)) : 0;
  const steps = Math.min(n, Math.max(0, p.maxAttempts - 1));
  const full = p.initial * p.factor ** steps;
  return full * (1 - p.jitter * random());
}
