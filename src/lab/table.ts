import { comebacksOf, type Scenario } from './scenario.js';
import {
  comeback,
  percentile,
  type Records,
  recovery,
  routedLatencies,
  type Summary,
  shareReaction,
} from './summary.js';

/**
 * One table a scenario, the same for the simulator and the lab: each contender's routed
 * latencies, errors, time-outs, p99 over lc's and lc-w's (pooled, and the range over runs
 * when there are several), server shares, and under it what the scenario is judged on
 * (bypass and all traffic, sessions, the slow server's share, recovery).
 */

export interface Cell {
  label: string;
  runs: Records[];
  summary: Summary;
  /** CPU seconds of the contender's own processes (lab only). */
  cpu?: number;
}

/** The time-window figures of scenarios with a speed change or load steps, per run. */
export function extras(
  s: Scenario,
  runs: Records[],
): {
  reaction?: { down: number | undefined; up: number | undefined }[];
  recovery?: { baseline: number; recovered: number | undefined }[];
  comebacks?: { server: string; runs: { back: number | undefined; peak: number | undefined }[] }[];
} {
  // The share reaction is for a server slowed a few times (degrade); a stalled one's
  // comeback is below.
  const slow = s.speed[0];
  const out: ReturnType<typeof extras> = {};
  if (slow && slow.to !== undefined && slow.factor < 10) {
    const i = s.servers.findIndex((x) => x.name === slow.server);
    out.reaction = runs.map((r) => shareReaction(r, i, slow.from, slow.to!));
  }
  if (Array.isArray(s.load) && s.load.length >= 3) {
    const up = s.load[1]!.at;
    const down = s.load[2]!.at;
    out.recovery = runs.map((r) => {
      const x = recovery(r, up, down);
      return { baseline: x.baseline, recovered: x.recovered };
    });
  }
  const backs = comebacksOf(s);
  if (backs.length > 0)
    out.comebacks = backs.map((b) => ({
      server: s.servers[b.server]!.name,
      runs: runs.map((r) => comeback(r, b.server, b.at, b.fair)),
    }));
  return out;
}

const p99 = (r: Records) => percentile(routedLatencies([r]), 0.99);

/** Run-by-run p99 ratios of a cell over a reference cell (run k over run k). */
function ratioRange(cell: Cell, ref: Cell | undefined): [number, number] | undefined {
  if (!ref || cell.runs.length < 2 || ref.runs.length < 2) return undefined;
  const n = Math.min(cell.runs.length, ref.runs.length);
  const r = Array.from({ length: n }, (_, k) => p99(cell.runs[k]!) / p99(ref.runs[k]!));
  return [Math.min(...r), Math.max(...r)];
}

export function formatTable(s: Scenario, cells: Cell[], note: string): string {
  const find = (n: string) => cells.find((c) => c.label === n);
  const lc = find('lc');
  const lcw = find('lc-w');
  // lc-q, the best-configured proxy, is what the gateway is held against (issue 30).
  const lcq = find('lc-q');
  const f = (x: number | undefined, d = 1) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
  const ratio = (c: Cell, ref: Cell | undefined) => {
    if (!ref) return '-';
    const pooled = f(c.summary.routed.p99 / ref.summary.routed.p99, 2);
    const range = ratioRange(c, ref);
    return range ? `${pooled} (${f(range[0], 2)}-${f(range[1], 2)})` : pooled;
  };
  const withCpu = cells.some((c) => c.cpu !== undefined);
  const head = [
    'contender',
    'requests',
    'p50',
    'p90',
    'p99',
    'p99.9',
    'err',
    'tmo',
    'vs lc',
    'vs lc-w',
    ...(lcq ? ['vs lc-q'] : []),
    'shares %',
  ];
  if (withCpu) head.push('cpu s');
  const lines = cells.map((c) => {
    const m = c.summary;
    const cellsOut = [
      c.label,
      String(m.routed.requests),
      f(m.routed.p50),
      f(m.routed.p90),
      f(m.routed.p99),
      f(m.routed.p999),
      String(m.routed.errors),
      String(m.routed.timeouts),
      ratio(c, lc),
      ratio(c, lcw),
      ...(lcq ? [ratio(c, lcq)] : []),
      m.shares.map((x) => (100 * x).toFixed(0)).join('/'),
    ];
    if (withCpu) cellsOut.push(f(c.cpu, 1));
    const notes: string[] = [];
    if (m.bypass) notes.push(`bypass p99 ${f(m.bypass.p99)}, all p99 ${f(m.all.p99)}`);
    if (m.sessions)
      notes.push(`sessions p50 ${f(m.sessions.p50)} p99 ${f(m.sessions.p99)} failed ${m.sessions.failed}`);
    const x = extras(s, c.runs);
    if (x.reaction)
      notes.push(
        `slow share <15% after ${x.reaction.map((r) => f(r.down, 0)).join('/')} ms, >20% after ${x.reaction.map((r) => f(r.up, 0)).join('/')} ms`,
      );
    for (const b of x.comebacks ?? [])
      notes.push(
        `${b.server} back to half its fair share after ${b.runs.map((r) => f(r.back, 0)).join('/')} ms, then at most ${b.runs.map((r) => f(r.peak, 2)).join('/')} x fair`,
      );
    if (x.recovery) notes.push(`recovered in ${x.recovery.map((r) => f(r.recovered, 0)).join('/')} ms`);
    return { cells: cellsOut, notes };
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l.cells[i]!.length)));
  const row = (cs: string[]) =>
    cs.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const trip =
    s.addedDelay > 0 ? `client round trip ${s.addedDelay} ms` : 'client round trip 0 ms: the balancing alone';
  const out = [
    `\n${s.name}: ${s.description.trim()}`,
    `(${note}; ${trip}; latencies ms, routed traffic)`,
    row(head),
  ];
  for (const l of lines) {
    out.push(row(l.cells));
    for (const n of l.notes) out.push(`${' '.repeat(widths[0]! + 2)}${n}`);
  }
  return out.join('\n');
}
