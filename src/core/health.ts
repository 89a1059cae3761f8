/**
 * Health as a small state machine: consecutive results flip a server's state at a
 * threshold, so one lost probe does not drop a server and one lucky answer does not bring
 * back a broken one. The operator's enable/disable is a separate flag, kept elsewhere.
 *
 * @example
 * let h = initialHealth();
 * h = recordCheck(h, false, { rise: 2, fall: 3 }); // still up, 1 failure
 */

export interface HealthThresholds {
  /** Consecutive successes that bring a down server back. */
  rise: number;
  /** Consecutive failures that take an up server down. */
  fall: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = { rise: 2, fall: 3 };

export interface Health {
  up: boolean;
  /** Consecutive results that disagree with `up`. */
  streak: number;
  /** Why the last check failed, for status and explain. */
  lastError?: string;
}

/** Servers start up, so a site with no checks serves at once (as HAProxy does). */
export function initialHealth(): Health {
  return { up: true, streak: 0 };
}

/** The state after one check result. Returns a new object; the input is not changed. */
export function recordCheck(h: Health, ok: boolean, t: HealthThresholds, error?: string): Health {
  const lastError = ok ? undefined : (error ?? 'check failed');
  if (ok === h.up) return { up: h.up, streak: 0, lastError };
  const streak = h.streak + 1;
  const needed = h.up ? t.fall : t.rise;
  if (streak >= needed) return { up: !h.up, streak: 0, lastError };
  return { up: h.up, streak, lastError };
}
