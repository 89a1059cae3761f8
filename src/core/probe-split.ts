import type { Random } from './random.js';

/**
 * The arithmetic of document 002 FIG. 4 and FIG. 5: the agent sends a probe request to a
 * server, finds the probe's own request record among those its interface reports, counts the
 * requests that were ahead of it, and splits its response time into waiting and processing.
 * Pure: the agent's prober (agent/probe.ts) does the sending, listening and waiting.
 *
 * What "ahead" means. Document 002 defines the server queue length as "the number of requests
 * ahead of a request on the queue when the request is received", and FIG. 4 counts the
 * requests the server processes between the probe's sending and its report. Counting reports
 * as they stream by is wrong twice over on a server with several slots: a short request that
 * arrived after the probe may finish before it, and a long one that was ahead may finish after
 * it. So the count uses the times in the records instead, against the probe's own arrival
 * (its record's `start`, on the same clock as everyone else's):
 *
 * - `ahead`: requests that arrived no later than the probe and had not yet got a slot when it
 *   arrived (arrived ≤ probe, arrival + queueWait > probe) — the waiting requests in front of
 *   it, the document's queue length and the interface's own `queueLength`;
 * - `inService`: requests that arrived no later than the probe, had a slot when it arrived and
 *   were still being served (arrival + queueWait ≤ probe < arrival + queueWait + serviceTime).
 *
 * Their sum is everything that was in the server in front of the probe (FIG. 4's Requests 1 to
 * 5 on a one-slot server). Requests refused at once or redirected never enter the queue and do
 * not count; one that waited and then timed out does, since it was on the queue. Arrival times
 * are wall-clock milliseconds, whole numbers on most servers, so a request that arrived in the
 * same millisecond as the probe counts as ahead of it whatever the true order.
 *
 * @example
 * const id = makeProbeId(Math.random);
 * const url = probeUrl('http://127.0.0.1:9001', '/health', id); // http://127.0.0.1:9001/health?sy_probe=…
 * probeIdOf(record.query) === id;                                // the probe's own record
 * splitProbe(own, 60, others); // { queueDelay: 40, serviceTime: 15, transit: 5, ahead: 4, inService: 2 }
 */

/** The query parameter that marks a probe and carries its id. */
export const PROBE_PARAM = 'sy_probe';

/** The parts of a request record the split reads (protocol RequestRecord has them all). */
export interface RequestTiming {
  /** Wall-clock ms when the request arrived at the interface. */
  start: number;
  /** ms it waited for a slot. */
  queueWait: number;
  /** ms from getting its slot to the answer. */
  serviceTime: number;
}

export interface ProbeSplit {
  /** ms the probe waited in the server's queue (FIG. 5's queuing time, as the interface saw it). */
  queueDelay: number;
  /** ms the server spent on the probe once it had a slot (FIG. 5's processing time). */
  serviceTime: number;
  /**
   * The rest of the response time: connecting, sending, the server's accept backlog, reading
   * the answer. Never negative (the two clocks may disagree by a fraction of a millisecond).
   */
  transit: number;
  /** Requests waiting in the queue in front of the probe when it arrived. */
  ahead: number;
  /** Requests being served when the probe arrived. */
  inService: number;
}

/**
 * A probe id: 12 characters of [0-9a-z] from two draws of `random`.
 *
 * @example
 * makeProbeId(seededRandom(1)); // always the same id
 */
export function makeProbeId(random: Random): string {
  const part = () =>
    Math.floor(random() * 36 ** 6)
      .toString(36)
      .padStart(6, '0');
  return part() + part();
}

/**
 * The probe's URL: the server's base URL (which may end in a path prefix), the page's path,
 * and the probe parameter appended to any query the path already has. A fragment is dropped.
 *
 * @example
 * probeUrl('http://h:81/app/', 'status?full=1', 'abc'); // 'http://h:81/app/status?full=1&sy_probe=abc'
 */
export function probeUrl(base: string, path: string, id: string): string {
  const hash = path.indexOf('#');
  const page = hash < 0 ? path : path.slice(0, hash);
  const joined = base.replace(/\/+$/, '') + (page.startsWith('/') ? page : `/${page}`);
  const sep = !joined.includes('?') ? '?' : joined.endsWith('?') || joined.endsWith('&') ? '' : '&';
  return `${joined}${sep}${PROBE_PARAM}=${encodeURIComponent(id)}`;
}

/**
 * The probe id in a record's query string (without the "?"), or undefined when it is not a
 * probe's record.
 *
 * @example
 * probeIdOf('a=1&sy_probe=abc'); // 'abc'
 */
export function probeIdOf(query: string | undefined): string | undefined {
  if (query === undefined || !query.includes(PROBE_PARAM)) return undefined;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq) !== PROBE_PARAM) continue;
    try {
      return decodeURIComponent(pair.slice(eq + 1));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Wall-clock ms when the request's answer was complete, as its record tells. */
export function requestEnd(r: RequestTiming): number {
  return r.start + r.queueWait + r.serviceTime;
}

/**
 * Splits the probe's response time (measured by the prober, ms) using its own record, and
 * counts the other requests of the same server that were ahead of it and in service when it
 * arrived (see the module comment for the exact rule).
 *
 * @example
 * splitProbe({ start: 1000, queueWait: 40, serviceTime: 15 }, 60, [
 *   { start: 990, queueWait: 30, serviceTime: 20 },  // waiting when the probe came: ahead
 *   { start: 970, queueWait: 10, serviceTime: 40 },  // being served: inService
 *   { start: 960, queueWait: 0, serviceTime: 20 },   // finished at 980: neither
 *   { start: 1010, queueWait: 0, serviceTime: 5 },   // came after the probe: neither
 * ]); // { queueDelay: 40, serviceTime: 15, transit: 5, ahead: 1, inService: 1 }
 */
export function splitProbe(
  probe: RequestTiming,
  responseTime: number,
  others: Iterable<RequestTiming>,
): ProbeSplit {
  const at = probe.start;
  let ahead = 0;
  let inService = 0;
  for (const r of others) {
    if (r.start > at) continue;
    const slot = r.start + r.queueWait;
    if (slot > at) ahead++;
    else if (slot + r.serviceTime > at) inService++;
  }
  return {
    queueDelay: probe.queueWait,
    serviceTime: probe.serviceTime,
    transit: Math.max(0, responseTime - probe.queueWait - probe.serviceTime),
    ahead,
    inService,
  };
}
