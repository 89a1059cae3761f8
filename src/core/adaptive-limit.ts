import type { Random } from './random.js';

/**
 * An adaptive limit on requests in flight at one server (issue 30, claim 19): the gateway
 * finds the concurrency at which the server's latency starts to rise, and holds the rest in
 * its own admission queue, where whichever server frees a place first takes them. A gradient
 * controller as in Envoy's adaptive concurrency filter (after Netflix's concurrency-limits):
 *
 * - **The floor.** The server's latency with almost nothing in flight (`minRtt`) is measured
 *   by holding it to PROBE_LIMIT requests until PROBE_SAMPLES answers sent at that load have
 *   come back: at the start, then every PROBE_EVERY (jittered, so many gateways do not probe
 *   at once). Between probes the floor is not moved by what the limit itself causes.
 * - **The gradient.** Every WINDOW ms (with at least MIN_SAMPLES answers), with `short` the
 *   window's mean latency:
 *
 *     gradient = clamp(minRtt × (1 + BUFFER) / short, 0.5, 2)
 *     limit    = limit × (1 − SMOOTHING) + (limit × gradient + √limit) × SMOOTHING
 *
 *   While latency stays within BUFFER of the floor the limit grows; once requests queue at the
 *   server its latency rises and the limit comes down, settling a little past the knee (a
 *   server with C slots: about 1.25 C, plus √limit of room). A window in which the server had
 *   under half its limit in flight cannot show that more would help: the limit does not grow
 *   on it.
 *
 * Pure: the caller passes the clock's reading and the random source.
 *
 * @example
 * const l = new AdaptiveLimit(Math.random);
 * l.observe(12, 5, now); // an answer after 12 ms, sent with 5 requests in flight
 * if (inFlight >= l.limit) wait();
 */

/** Where the limit starts, and its bounds. */
export const INITIAL_LIMIT = 20;
export const MIN_LIMIT = 1;
export const MAX_LIMIT = 1000;
/** How long a window of answers is, ms, and how many it needs before it counts. */
export const WINDOW = 100;
export const MIN_SAMPLES = 10;
/** Latency may rise this share over the floor before the limit comes down. */
export const BUFFER = 0.25;
/** Share of the new target taken each window. */
export const SMOOTHING = 0.2;
/** While the floor is measured: requests in flight, answers needed, the longest it may take (ms). */
export const PROBE_LIMIT = 3;
export const PROBE_SAMPLES = 25;
export const PROBE_MAX = 2000;
/** How often the floor is measured again, ms (each time up to a third later, at random). */
export const PROBE_EVERY = 30_000;

export class AdaptiveLimit {
  private value = INITIAL_LIMIT;
  /** The latency with almost nothing in flight, ms (0: not measured yet). */
  private floor = 0;
  private probing = true;
  private probeStart = Number.NaN;
  private probeSum = 0;
  private probeCount = 0;
  private nextProbe = 0;
  private windowStart = Number.NaN;
  private sum = 0;
  private count = 0;
  /** Most requests in flight seen in the window. */
  private busiest = 0;

  constructor(private readonly random: Random) {}

  /** Requests in flight the server may have now (a whole number, at least MIN_LIMIT). */
  get limit(): number {
    if (this.probing) return Math.min(PROBE_LIMIT, Math.max(MIN_LIMIT, Math.floor(this.value)));
    return Math.max(MIN_LIMIT, Math.floor(this.value));
  }

  /** The latency with almost nothing in flight, ms, as last measured (0: not yet). */
  get minRtt(): number {
    return this.floor;
  }

  /** One answer (or failure) after `ms`, sent with `inFlight` requests at the server (itself included). */
  observe(ms: number, inFlight: number, now: number): void {
    const t = Math.max(0, ms);
    if (this.probing) {
      this.probe(t, inFlight, now);
      return;
    }
    if (now >= this.nextProbe) {
      this.probing = true;
      this.probeStart = now;
      this.probeSum = this.probeCount = 0;
      return;
    }
    if (!Number.isFinite(this.windowStart)) this.windowStart = now;
    this.sum += t;
    this.count++;
    if (inFlight > this.busiest) this.busiest = inFlight;
    if (now - this.windowStart < WINDOW || this.count < MIN_SAMPLES) return;
    const short = this.sum / this.count;
    const busiest = this.busiest;
    this.windowStart = now;
    this.sum = this.count = this.busiest = 0;
    if (short <= 0 || this.floor <= 0) return;
    const gradient = Math.max(0.5, Math.min(2, (this.floor * (1 + BUFFER)) / short));
    // A light load cannot show that more in flight would keep latency: no growth on it.
    if (gradient >= 1 && busiest < this.value / 2) return;
    const target = this.value * gradient + Math.sqrt(this.value);
    this.value = Math.max(MIN_LIMIT, Math.min(MAX_LIMIT, this.value * (1 - SMOOTHING) + target * SMOOTHING));
  }

  /** While the floor is measured: only answers sent at the probe's load count. */
  private probe(ms: number, inFlight: number, now: number): void {
    if (!Number.isFinite(this.probeStart)) this.probeStart = now;
    if (inFlight <= PROBE_LIMIT) {
      this.probeSum += ms;
      this.probeCount++;
    }
    const enough = this.probeCount >= PROBE_SAMPLES;
    if (!enough && now - this.probeStart < PROBE_MAX) return;
    // Too few answers at that load in time (a slow server): the floor keeps its old value,
    // or takes what came.
    if (this.probeCount > 0 && (enough || this.floor === 0)) this.floor = this.probeSum / this.probeCount;
    this.probing = false;
    this.probeStart = Number.NaN;
    this.windowStart = Number.NaN;
    this.sum = this.count = this.busiest = 0;
    this.nextProbe = now + PROBE_EVERY * (1 + this.random() / 3);
  }
}
