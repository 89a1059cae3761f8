/**
 * How often an agent relays its servers' figures: half the mean service time of its fastest
 * server, within [MIN_REPORT_INTERVAL, the configured report interval].
 *
 * A redirecting door's picture is as old as the figures, and what matters is that age in
 * service times: a server of 5 ms finishes five requests between two 25 ms reports, and the
 * door then places users on a queue that has long emptied (issue 27: eight one-slot servers
 * of 5 ms at 85 % gave 1.36 of lc-w's p99 at 25 ms, 1.12 at 5 ms; long-tailed service of
 * 20 ms mean gave p50 1.18 at 25 ms, 1.08 at 10 ms). Servers of 50 ms and more keep the
 * configured interval, and so its cost in messages (D30).
 *
 * @example
 * reportEvery(25, [20, 80]); // 10
 * reportEvery(25, []);       // 25: nothing measured yet
 */

export const MIN_REPORT_INTERVAL = 5;

export function reportEvery(configured: number, serviceTimes: readonly number[]): number {
  let fastest = Infinity;
  for (const s of serviceTimes) if (s > 0 && s < fastest) fastest = s;
  if (!Number.isFinite(fastest)) return configured;
  return Math.max(Math.min(MIN_REPORT_INTERVAL, configured), Math.min(configured, Math.round(fastest / 2)));
}

/**
 * A server's mean service time as the agent follows it for reportEvery: a count-weighted
 * mean over about the last 200 requests.
 */
export function followService(previous: number, mean: number, n: number): number {
  if (!(mean > 0) || !(n > 0)) return previous;
  if (!(previous > 0)) return mean;
  return previous + ((mean - previous) * n) / (n + 200);
}
