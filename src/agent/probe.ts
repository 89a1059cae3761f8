import type { Dispatcher } from 'undici';
import {
  makeProbeId,
  type ProbeSplit,
  probeIdOf,
  probeUrl,
  type RequestTiming,
  requestEnd,
  splitProbe,
} from '../core/probe-split.js';
import type { Clock, Random } from '../core/random.js';
import type { RequestRecord } from '../protocol/messages.js';
import { fetchPage } from './synthetic-check.js';

/**
 * The agent's probe of document 002 FIG. 4 and FIG. 5, sent at a slow rate: a GET of a
 * server's page carrying a unique `sy_probe=<id>` query parameter. While it is in flight the
 * prober keeps the request records the server's interface reports (the agent passes every
 * record it receives to `onRecord`); when the probe's own record comes back it tells how long
 * the probe waited for a slot and how long it was served, and the records kept tell how many
 * requests were ahead of it (see core/probe-split.ts for exactly what counts as ahead).
 *
 * A server without an interface sends no record: after the answer the prober waits
 * `recordWait` ms for one, then gives the response time alone, the stand-in for queue delay
 * on such servers. So does a server whose interface leaves the query out of its records
 * (field mask without FIELD_BITS.query).
 *
 * Memory stays bounded: records are kept only for a server with a probe in flight, only
 * those that could matter (not finished before the probe was sent, not arrived after it),
 * and at most `maxTracked` of them; one probe per server at a time, each ended by time-outs.
 *
 * @example
 * const prober = new Prober({ timeout: 2000 });
 * listener = new InterfaceListener({ ..., onRecord: (r) => { prober.onRecord(r); batch(r); } });
 * const r = await prober.probe({ server: 'web-a', url: 'http://127.0.0.1:9001', path: '/health' });
 * if (r.ok && r.viaInterface) report(r.queueDelay, r.ahead); // else r.responseTime alone
 */

export interface ProbeTarget {
  /** The server's name; records are matched by it. */
  server: string;
  /** The server's base URL (may end in a path prefix). */
  url: string;
  /** The page to ask for. Default "/". */
  path?: string;
}

export interface ProbeAnswer extends Partial<ProbeSplit> {
  ok: true;
  server: string;
  /** The status the server answered with (a 503 from a full queue is an answer too). */
  status: number;
  /** ms from sending the probe to the last byte of its answer, as the agent measured it. */
  responseTime: number;
  /**
   * The interface reported the probe: `queueDelay`, `serviceTime` and `transit` are set, and
   * `ahead` and `inService` unless more than `maxTracked` records came in meanwhile.
   */
  viaInterface: boolean;
}

export interface ProbeFailure {
  ok: false;
  server: string;
  /** ms until the probe failed. */
  responseTime: number;
  /** What went wrong, for the operator, e.g. "GET http://…/?sy_probe=…: no answer within 2000 ms". */
  reason: string;
}

export type ProbeResult = ProbeAnswer | ProbeFailure;

export interface ProberOptions {
  /** Longest wait for the probe's answer, ms. Default 5000. */
  timeout?: number;
  /** After the answer, longest wait for the probe's own record, ms. Default 500. */
  recordWait?: number;
  /**
   * After the probe's record, ms during which records of requests that were ahead of it are
   * still counted (on a server with several slots one may finish just after the probe).
   * Default 50.
   */
  settle?: number;
  /** Records kept per probe. Default 10,000. */
  maxTracked?: number;
  /** Body bytes read from the answer. Default 256 KiB. */
  maxBytes?: number;
  /** Monotonic ms for response times; default performance.now. */
  clock?: Clock;
  /** Wall-clock ms, the clock of the records' `start`; default Date.now. */
  wallClock?: () => number;
  /** For the probe ids; default Math.random. */
  random?: Random;
  /** Where probes go; default undici's global dispatcher. */
  dispatcher?: Dispatcher;
}

/**
 * Records that ended this many ms before the probe was sent are not kept. The records come
 * from interfaces on the agent's own host, so their wall clock is the agent's; the margin is
 * for whole-millisecond readings.
 */
const SKEW = 2;

interface Flight {
  id: string;
  sentWall: number;
  seen: RequestTiming[];
  overflow: boolean;
  own: RequestTiming | undefined;
  /** Wakes the wait for the probe's own record. */
  wake: (() => void) | undefined;
  /** Set as soon as the flight starts. */
  result?: Promise<ProbeResult>;
}

export class Prober {
  private readonly flights = new Map<string, Flight>();
  private readonly clock: Clock;
  private readonly wall: () => number;
  private readonly random: Random;

  constructor(private readonly o: ProberOptions = {}) {
    this.clock = o.clock ?? (() => performance.now());
    this.wall = o.wallClock ?? Date.now;
    this.random = o.random ?? Math.random;
  }

  /** Probes in flight (one per server at most). */
  get inFlight(): number {
    return this.flights.size;
  }

  /** Records held for probes in flight. */
  get tracked(): number {
    let n = 0;
    for (const f of this.flights.values()) n += f.seen.length;
    return n;
  }

  /**
   * Sends a probe and resolves when its figures are known. Never rejects. A call for a server
   * that already has a probe in flight gets that probe's result instead of sending another.
   */
  probe(target: ProbeTarget): Promise<ProbeResult> {
    const busy = this.flights.get(target.server);
    if (busy) return busy.result!;
    const f: Flight = {
      id: makeProbeId(this.random),
      sentWall: this.wall(),
      seen: [],
      overflow: false,
      own: undefined,
      wake: undefined,
    };
    this.flights.set(target.server, f);
    const result = this.run(target, f)
      .catch(
        (e: unknown): ProbeResult => ({
          ok: false,
          server: target.server,
          responseTime: 0,
          reason: `probe failed: ${String(e)}`,
        }),
      )
      .finally(() => {
        if (this.flights.get(target.server) === f) this.flights.delete(target.server);
      });
    f.result = result;
    return result;
  }

  /** Every record the agent receives passes here; those no probe needs are ignored at once. */
  onRecord(r: RequestRecord): void {
    const f = this.flights.get(r.server);
    if (!f) return;
    if (f.own === undefined && probeIdOf(r.query) === f.id) {
      f.own = { start: r.start, queueWait: r.queueWait, serviceTime: r.serviceTime };
      // Keep only what can still count: requests that arrived no later than the probe.
      f.seen = f.seen.filter((s) => s.start <= r.start);
      f.wake?.();
      return;
    }
    const end = requestEnd(r);
    if (f.own ? r.start > f.own.start || end <= f.own.start : end < f.sentWall - SKEW) return;
    if (f.seen.length >= (this.o.maxTracked ?? 10_000)) {
      f.overflow = true;
      return;
    }
    f.seen.push({ start: r.start, queueWait: r.queueWait, serviceTime: r.serviceTime });
  }

  private async run(target: ProbeTarget, f: Flight): Promise<ProbeResult> {
    const url = probeUrl(target.url, target.path ?? '/', f.id);
    const answer = await fetchPage(url, {
      timeout: this.o.timeout ?? 5000,
      maxBytes: this.o.maxBytes,
      clock: this.clock,
      dispatcher: this.o.dispatcher,
    });
    const server = target.server;
    if (!answer.ok) return { ok: false, server, responseTime: answer.ms, reason: answer.reason };
    const base = { ok: true as const, server, status: answer.status, responseTime: answer.ms };
    if (f.own === undefined) await this.wait(f, this.o.recordWait ?? 500);
    const own = f.own;
    if (own === undefined) return { ...base, viaInterface: false };
    await this.wait(undefined, this.o.settle ?? 50);
    const split = splitProbe(own, answer.ms, f.seen);
    if (!f.overflow) return { ...base, viaInterface: true, ...split };
    return {
      ...base,
      viaInterface: true,
      queueDelay: split.queueDelay,
      serviceTime: split.serviceTime,
      transit: split.transit,
    };
  }

  /** Waits `ms`, or until the flight's own record arrives when a flight is given. */
  private wait(f: Flight | undefined, ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (f) f.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      if (f) f.wake = done;
    });
  }
}
