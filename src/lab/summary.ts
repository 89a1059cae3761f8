/**
 * What a run's records say, the same for the simulator and the lab: percentiles of
 * balancer-routed traffic, of bypass traffic and of all of it, errors and time-outs, each
 * server's share, session totals, and the time-window figures the goals of `degrade` and
 * `flash-crowd` are judged on. Percentiles are exact (nearest rank over every latency).
 */

export interface Records {
  duration: number;
  servers: string[];
  t0: ArrayLike<number>;
  latency: ArrayLike<number>;
  bypass: ArrayLike<number>;
  outcome: ArrayLike<number>;
  server: ArrayLike<number>;
  sessionTotal: ArrayLike<number>;
  sessionOk: ArrayLike<number>;
  /** Routed requests reaching each server by one-second window: [window][server]. */
  arrivals: number[][];
}

/** Outcome codes of one request. */
export const OK = 0;
export const TIMEOUT = 1;
export const ERROR = 2;

/** Records being filled in by the simulator or the lab's load generator. */
export interface RecordColumns extends Records {
  t0: number[];
  latency: number[];
  bypass: number[];
  outcome: number[];
  server: number[];
  sessionTotal: number[];
  sessionOk: number[];
}

export function newRecords(duration: number, servers: string[]): RecordColumns {
  return {
    duration,
    servers,
    t0: [],
    latency: [],
    bypass: [],
    outcome: [],
    server: [],
    sessionTotal: [],
    sessionOk: [],
    arrivals: Array.from({ length: Math.ceil(duration / 1000) }, () => servers.map(() => 0)),
  };
}

/**
 * Records one request that started (was due) at `t0` and ended at `end` with `outcome`, when
 * it belongs to the measured run; an answer after the time-out counts as a time-out, and a
 * time-out's latency is the time-out. Returns the outcome and latency as scored.
 */
export function addRequest(
  r: RecordColumns,
  timeout: number,
  t0: number,
  end: number,
  bypass: boolean,
  outcome: number,
  server: number,
): { outcome: number; latency: number } {
  const o = outcome === OK && end - t0 > timeout ? TIMEOUT : outcome;
  const latency = o === TIMEOUT ? timeout : Math.min(end - t0, timeout);
  if (t0 >= 0 && t0 < r.duration) {
    r.t0.push(t0);
    r.latency.push(latency);
    r.bypass.push(bypass ? 1 : 0);
    r.outcome.push(o);
    r.server.push(o === OK ? server : -1);
  }
  return { outcome: o, latency };
}

export interface Latencies {
  requests: number;
  /** Requests a second over the measured run. */
  throughput: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  /** Only when there are 100,000 requests or more. */
  p999: number | undefined;
  errors: number;
  timeouts: number;
}

export interface Summary {
  routed: Latencies;
  bypass: Latencies | undefined;
  all: Latencies;
  /** Each server's share of routed requests that it answered. */
  shares: number[];
  sessions: { count: number; p50: number; p99: number; failed: number } | undefined;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[k]!;
}

/** Balancer-routed latencies of one or more runs, sorted. */
export function routedLatencies(runs: readonly Records[]): Float64Array {
  const v: number[] = [];
  for (const r of runs)
    for (let i = 0; i < r.latency.length; i++) if (r.bypass[i] === 0) v.push(r.latency[i]!);
  return Float64Array.from(v).sort();
}

export function latencies(values: number[], outcomes: number[], seconds: number): Latencies {
  const sorted = Float64Array.from(values).sort();
  let errors = 0;
  let timeouts = 0;
  for (const o of outcomes) {
    if (o === TIMEOUT) timeouts++;
    else if (o === ERROR) errors++;
  }
  return {
    requests: sorted.length,
    throughput: seconds > 0 ? sorted.length / seconds : 0,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    p999: sorted.length >= 100_000 ? percentile(sorted, 0.999) : undefined,
    errors,
    timeouts,
  };
}

/** Several runs' records of one cell as one. */
export function pool(runs: readonly Records[]): Records {
  const cat = (k: 't0' | 'latency' | 'bypass' | 'outcome' | 'server' | 'sessionTotal' | 'sessionOk') =>
    runs.flatMap((r) => Array.from(r[k]));
  return {
    duration: runs.reduce((a, r) => a + r.duration, 0),
    servers: runs[0]!.servers,
    t0: cat('t0'),
    latency: cat('latency'),
    bypass: cat('bypass'),
    outcome: cat('outcome'),
    server: cat('server'),
    sessionTotal: cat('sessionTotal'),
    sessionOk: cat('sessionOk'),
    arrivals: runs.flatMap((r) => r.arrivals),
  };
}

export function summarize(r: Records): Summary {
  const seconds = r.duration / 1000;
  const pick = (want: (i: number) => boolean) => {
    const v: number[] = [];
    const o: number[] = [];
    for (let i = 0; i < r.latency.length; i++)
      if (want(i)) {
        v.push(r.latency[i]!);
        o.push(r.outcome[i]!);
      }
    return latencies(v, o, seconds);
  };
  const routed = pick((i) => r.bypass[i] === 0);
  const hasBypass = Array.prototype.some.call(r.bypass, (b: number) => b === 1);
  const counts = r.servers.map(() => 0);
  let answered = 0;
  for (let i = 0; i < r.server.length; i++)
    if (r.bypass[i] === 0 && r.server[i]! >= 0) {
      counts[r.server[i]!]!++;
      answered++;
    }
  let sessions: Summary['sessions'];
  if (r.sessionTotal.length > 0) {
    const sorted = Float64Array.from(r.sessionTotal).sort();
    let failed = 0;
    for (let i = 0; i < r.sessionOk.length; i++) if (r.sessionOk[i] === 0) failed++;
    sessions = {
      count: sorted.length,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      failed,
    };
  }
  return {
    routed,
    bypass: hasBypass ? pick((i) => r.bypass[i] === 1) : undefined,
    all: pick(() => true),
    shares: counts.map((c) => (answered > 0 ? c / answered : 0)),
    sessions,
  };
}

/** A server's share of routed arrivals in each one-second window. */
export function shareOverTime(r: Records, server: number): number[] {
  return r.arrivals.map((w) => {
    const total = w.reduce((a, b) => a + b, 0);
    return total > 0 ? w[server]! / total : 0;
  });
}

/**
 * `degrade`: seconds from the slowdown (at `from`) until the slow server's share of a
 * one-second window falls below `low`, and from the recovery (at `to`) until it rises above
 * `high`, counted to the end of the first window that does it. Undefined: it never did.
 */
export function shareReaction(
  r: Records,
  server: number,
  from: number,
  to: number,
  low = 0.15,
  high = 0.2,
): { down: number | undefined; up: number | undefined } {
  const shares = shareOverTime(r, server);
  const first = (start: number, end: number, ok: (x: number) => boolean) => {
    for (let w = Math.floor(start / 1000); w < Math.min(shares.length, Math.ceil(end / 1000)); w++)
      if (ok(shares[w]!)) return (w + 1) * 1000 - start;
    return undefined;
  };
  return {
    down: first(from, to, (x) => x < low),
    up: first(to, r.duration, (x) => x > high),
  };
}

/**
 * A server coming back (issue 27): from `at`, when it recovers or joins, the time until its
 * share of a one-second window is at least half its fair share `fair`, counted to the end of
 * that window (undefined: never), and the most it got in any of the ten windows after that
 * one, as a multiple of `fair` (herding onto it shows there).
 */
export function comeback(
  r: Records,
  server: number,
  at: number,
  fair: number,
): { back: number | undefined; peak: number | undefined } {
  const shares = shareOverTime(r, server);
  for (let w = Math.floor(at / 1000); w < shares.length; w++) {
    if (shares[w]! < fair / 2) continue;
    const after = shares.slice(w + 1, w + 11);
    return { back: (w + 1) * 1000 - at, peak: after.length > 0 ? Math.max(...after) / fair : undefined };
  }
  return { back: undefined, peak: undefined };
}

/**
 * `flash-crowd`: p95 of routed latency over two-second windows, and the time from the step
 * down (`at`) until a window's p95 is back within `within` of its level in the ten seconds
 * before the step up (`before`), counted to that window's end.
 */
export function recovery(
  r: Records,
  before: number,
  at: number,
  within = 1.5,
): { baseline: number; windows: number[]; recovered: number | undefined } {
  const w = 2000;
  const n = Math.ceil(r.duration / w);
  const buckets: number[][] = Array.from({ length: n }, () => []);
  const base: number[] = [];
  for (let i = 0; i < r.t0.length; i++) {
    if (r.bypass[i] !== 0) continue;
    const t = r.t0[i]!;
    buckets[Math.min(n - 1, Math.floor(t / w))]!.push(r.latency[i]!);
    if (t >= before - 10_000 && t < before) base.push(r.latency[i]!);
  }
  const p95 = (v: number[]) => percentile(Float64Array.from(v).sort(), 0.95);
  const baseline = p95(base);
  const windows = buckets.map(p95);
  let recovered: number | undefined;
  for (let k = Math.floor(at / w); k < n; k++)
    if (windows[k]! <= within * baseline) {
      recovered = (k + 1) * w - at;
      break;
    }
  return { baseline, windows, recovered };
}
