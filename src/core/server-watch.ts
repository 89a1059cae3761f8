/**
 * What a gateway learns of each server from the requests it carries (issue 30, document 004
 * claims 7-9 and 16-17: the quality of service it measures to each):
 *
 * - **Latency, peak-EWMA** (Finagle, Linkerd): a slower answer counts at once, a faster one
 *   pulls the estimate down with a time constant `tau`, so a server that slows is avoided
 *   before its queue shows it and one that recovers is trusted again gradually.
 * - **Outliers**: `consecutiveFailures` failures in a row (no connection, no answer, a 5xx)
 *   eject the server for `ejectFor` × the times it was ejected before (at most ten times
 *   that); then one request probes it, and it returns when that succeeds. At most `maxEjected`
 *   of an application's servers are out at once, so a fault everywhere is not made worse.
 * - **Slow start**: a server that joins or comes back weighs `rampFloor` of its capacity,
 *   growing to all of it over `slowStart`, so a least-request choice does not flood the one
 *   server that has nothing in flight.
 *
 * Pure: times are arguments (ms, the gateway's clock).
 *
 * @example
 * const w = newServerWatch(); observe(w, 42, true, now, params);
 * costOf(w, inFlight, capacity, now, params); // (inFlight + 1) × latency ÷ (capacity × ramp)
 */

export interface WatchParams {
  tau: number;
  consecutiveFailures: number;
  ejectFor: number;
  slowStart: number;
  /** The share of capacity a server starts at when ramping. */
  rampFloor: number;
}

export const WATCH_DEFAULTS: WatchParams = {
  tau: 10_000,
  consecutiveFailures: 5,
  ejectFor: 30_000,
  slowStart: 30_000,
  rampFloor: 0.1,
};

export interface ServerWatch {
  /** Peak-EWMA latency, ms; 0 until the first answer. */
  latency: number;
  latencyAt: number;
  failuresInARow: number;
  /** Ejected until then (ms); -Infinity when in. */
  ejectedUntil: number;
  timesEjected: number;
  /** A probe is out to an ejected server whose time is up. */
  probing: boolean;
  /** Ramping from then (ms); -Infinity when at full weight. */
  rampFrom: number;
}

export function newServerWatch(): ServerWatch {
  return {
    latency: 0,
    latencyAt: 0,
    failuresInARow: 0,
    ejectedUntil: Number.NEGATIVE_INFINITY,
    timesEjected: 0,
    probing: false,
    rampFrom: Number.NEGATIVE_INFINITY,
  };
}

/** One answer (or failure) from the server, `ms` after the request went. */
export function observe(w: ServerWatch, ms: number, ok: boolean, now: number, p: WatchParams): void {
  if (ok) {
    if (w.latency === 0 || ms >= w.latency) w.latency = ms;
    else {
      const keep = Math.exp(-Math.max(0, now - w.latencyAt) / p.tau);
      w.latency = w.latency * keep + ms * (1 - keep);
    }
    w.latencyAt = now;
    w.failuresInARow = 0;
    if (w.probing) {
      // The probe came back well: in again, ramping up.
      w.probing = false;
      w.ejectedUntil = Number.NEGATIVE_INFINITY;
      w.rampFrom = now;
    }
    return;
  }
  w.failuresInARow++;
  if (w.probing) {
    w.probing = false;
    eject(w, now, p);
  }
}

function eject(w: ServerWatch, now: number, p: WatchParams): void {
  w.timesEjected++;
  w.ejectedUntil = now + p.ejectFor * Math.min(10, w.timesEjected);
  w.failuresInARow = 0;
}

/**
 * Ejects the server if its failures in a row call for it and the application can spare it
 * (`ejectedNow` of `servers` are out already, `maxEjected` the share allowed). True if it did.
 */
export function maybeEject(
  w: ServerWatch,
  now: number,
  p: WatchParams,
  ejectedNow: number,
  servers: number,
  maxEjected: number,
): boolean {
  if (w.failuresInARow < p.consecutiveFailures || isEjected(w, now)) return false;
  if (ejectedNow + 1 > Math.floor(servers * maxEjected)) return false;
  eject(w, now, p);
  return true;
}

export function isEjected(w: ServerWatch, now: number): boolean {
  return now < w.ejectedUntil || w.probing;
}

/**
 * Whether an ejected server whose time is up may take this request as its probe (one at a
 * time); marks the probe as out.
 */
export function takeProbe(w: ServerWatch, now: number): boolean {
  if (w.probing || w.ejectedUntil === Number.NEGATIVE_INFINITY || now < w.ejectedUntil) return false;
  w.probing = true;
  return true;
}

/** The share of its capacity a server weighs now: rampFloor rising to 1 over slowStart. */
export function rampOf(w: ServerWatch, now: number, p: WatchParams): number {
  if (p.slowStart <= 0) return 1;
  const t = (now - w.rampFrom) / p.slowStart;
  if (t >= 1) return 1;
  return Math.max(p.rampFloor, p.rampFloor + (1 - p.rampFloor) * Math.max(0, t));
}

/**
 * A server's cost for the choice: what a new request would wait there, as far as this
 * gateway can tell: (in flight + 1) × its latency, for its capacity as ramped. A server not
 * yet measured takes the others' typical latency (`typical`), so it is neither shunned nor
 * flooded.
 */
export function costOf(
  w: ServerWatch,
  inFlight: number,
  capacity: number,
  now: number,
  p: WatchParams,
  typical: number,
): number {
  const latency = w.latency > 0 ? w.latency : typical > 0 ? typical : 1;
  return ((inFlight + 1) * latency) / (capacity * rampOf(w, now, p));
}
