#!/usr/bin/env node
import { readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Command } from 'commander';
import { EXIT, fail, failFrom, wholeNumber } from '../../cli/exit.js';
import { type ContenderSpec, contendersFor, label, parseContender } from '../contenders.js';
import { loadScenario, type Scenario } from '../scenario.js';
import { pool, type Records, recovery, type Summary, shareReaction, summarize } from '../summary.js';
import { simulate } from './simulate.js';

/**
 * `npm run sim -- --scenario NAME`: the balancing lab's scenarios on a fake clock. Every
 * contender runs the same seeds (the same arrivals and service times), so the ratios
 * compare the balancing only. Prints one table a scenario; `--json` keeps the figures.
 */

const SCENARIOS = join(import.meta.dirname, '../../../bench/lab/scenarios');

interface Options {
  scenario?: string[];
  scenarioFile?: string[];
  contenders?: string;
  seeds: string;
  scale: string;
  json?: string;
}

const program = new Command('sim')
  .description("Simulate the balancing lab's scenarios: the real choice policies on a fake clock.")
  .option('--scenario <name...>', 'scenarios from bench/lab/scenarios (default: all)')
  .option('--scenario-file <path...>', 'scenario files from anywhere')
  .option(
    '--contenders <list>',
    'comma-separated, e.g. switchyard,switchyard@100ms,lc,lc-w (default: the lab’s)',
  )
  .option('--seeds <n>', 'runs per contender, pooled', '5')
  .option('--scale <n>', 'lengthen each run this many times (steady scenarios only)', '1')
  .option('--json <file>', 'write every summary to this file')
  .action((o: Options) => {
    try {
      run(o);
    } catch (e) {
      failFrom(e);
    }
  });

function run(o: Options): void {
  const seeds = wholeNumber('sim', '--seeds', o.seeds, 1);
  const scale = wholeNumber('sim', '--scale', o.scale, 1);
  const files = [
    ...(o.scenario ?? (o.scenarioFile ? [] : names())).map((n) => {
      if (!names().includes(n)) fail(`sim: no scenario "${n}" (have: ${names().join(', ')})`, EXIT.usage);
      return join(SCENARIOS, `${n}.yaml`);
    }),
    ...(o.scenarioFile ?? []),
  ];
  const out: Record<string, unknown> = {};
  for (const file of files) {
    const loaded = loadScenario(file);
    const steady = loaded.speed.length === 0 && !Array.isArray(loaded.load);
    const s: Scenario = steady ? { ...loaded, duration: loaded.duration * scale } : loaded;
    const contenders = o.contenders ? parseList(o.contenders) : contendersFor(s.name);
    const started = performance.now();
    const rows = contenders.map((c) => {
      const runs: Records[] = [];
      for (let seed = 1; seed <= seeds; seed++) runs.push(simulate(s, c, seed));
      return { c, runs, summary: summarize(pool(runs)) };
    });
    print(s, rows, performance.now() - started);
    out[s.name] = rows.map((r) => ({ contender: label(r.c), ...r.summary, ...extras(s, r.runs) }));
  }
  if (o.json) writeFileSync(o.json, `${JSON.stringify(out, null, 2)}\n`);
}

function names(): string[] {
  return readdirSync(SCENARIOS)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => basename(f, '.yaml'))
    .sort();
}

function parseList(text: string): ContenderSpec[] {
  return text.split(',').map((t) => {
    const c = parseContender(t);
    if (!c) fail(`sim: --contenders: unknown contender "${t}"`, EXIT.usage);
    return c;
  });
}

/** The time-window figures of scenarios with a speed change or load steps, per run. */
function extras(s: Scenario, runs: Records[]): Record<string, unknown> {
  const e: Record<string, unknown> = {};
  const slow = s.speed[0];
  if (slow && slow.to !== undefined) {
    const i = s.servers.findIndex((x) => x.name === slow.server);
    e.reaction = runs.map((r) => shareReaction(r, i, slow.from, slow.to!));
  }
  if (Array.isArray(s.load) && s.load.length >= 3) {
    const up = s.load[1]!.at;
    const down = s.load[2]!.at;
    e.recovery = runs.map((r) => {
      const x = recovery(r, up, down);
      return { baseline: x.baseline, recovered: x.recovered };
    });
  }
  return e;
}

function print(
  s: Scenario,
  rows: { c: ContenderSpec; runs: Records[]; summary: Summary }[],
  ms: number,
): void {
  const find = (n: string) => rows.find((r) => label(r.c) === n)?.summary.routed.p99;
  const lc = find('lc');
  const lcw = find('lc-w');
  const f = (x: number | undefined, d = 1) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
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
    'shares %',
  ];
  const lines = rows.map(({ c, runs, summary: m }) => {
    const cells = [
      label(c),
      String(m.routed.requests),
      f(m.routed.p50),
      f(m.routed.p90),
      f(m.routed.p99),
      f(m.routed.p999),
      String(m.routed.errors),
      String(m.routed.timeouts),
      lc ? f(m.routed.p99 / lc, 2) : '-',
      lcw ? f(m.routed.p99 / lcw, 2) : '-',
      m.shares.map((x) => (100 * x).toFixed(0)).join('/'),
    ];
    const notes: string[] = [];
    if (m.bypass) notes.push(`bypass p99 ${f(m.bypass.p99)}, all p99 ${f(m.all.p99)}`);
    if (m.sessions)
      notes.push(`sessions p50 ${f(m.sessions.p50)} p99 ${f(m.sessions.p99)} failed ${m.sessions.failed}`);
    const x = extras(s, runs);
    if (x.reaction)
      notes.push(
        `slow share <15% after ${(x.reaction as { down?: number }[]).map((r) => f(r.down, 0)).join('/')} ms, >20% after ${(x.reaction as { up?: number }[]).map((r) => f(r.up, 0)).join('/')} ms`,
      );
    if (x.recovery)
      notes.push(
        `recovered in ${(x.recovery as { recovered?: number }[]).map((r) => f(r.recovered, 0)).join('/')} ms`,
      );
    return { cells, notes };
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l.cells[i]!.length)));
  const row = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\n${s.name}: ${s.description.trim()}`);
  console.log(
    `(${rows[0]?.runs.length ?? 0} seeds of ${s.duration / 1000} s pooled; latencies ms, routed traffic; ${(ms / 1000).toFixed(1)} s)`,
  );
  console.log(row(head));
  for (const l of lines) {
    console.log(row(l.cells));
    for (const n of l.notes) console.log(`${' '.repeat(widths[0]! + 2)}${n}`);
  }
}

program.parse();
