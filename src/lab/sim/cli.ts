#!/usr/bin/env node
import { readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Command } from 'commander';
import { EXIT, fail, failFrom, wholeNumber } from '../../cli/exit.js';
import { type ContenderSpec, contendersFor, label, parseContender } from '../contenders.js';
import { loadScenario, type Scenario } from '../scenario.js';
import { pool, type Records, summarize } from '../summary.js';
import { extras, formatTable } from '../table.js';
import { simulate } from './simulate.js';

/**
 * `npm run sim -- --scenario NAME`: the balancing lab's scenarios on a fake clock. Every
 * contender runs the same seeds (the same arrivals and service times), so the ratios
 * compare the balancing only. Prints one table a scenario; `--json` keeps the figures.
 */

/** The lab's scenarios, and those only the simulator can judge (issue 27). */
const FOLDERS = ['scenarios', 'sim-scenarios'].map((f) => join(import.meta.dirname, '../../../bench/lab', f));

interface Options {
  scenario?: string[];
  scenarioFile?: string[];
  contenders?: string;
  seeds: string;
  scale: string;
  roundTrip?: string;
  json?: string;
}

const program = new Command('sim')
  .description("Simulate the balancing lab's scenarios: the real choice policies on a fake clock.")
  .option('--scenario <name...>', 'scenarios from bench/lab/scenarios and sim-scenarios (default: all)')
  .option('--scenario-file <path...>', 'scenario files from anywhere')
  .option(
    '--contenders <list>',
    'comma-separated, e.g. switchyard,switchyard@100ms,lc,lc-w (default: the lab’s)',
  )
  .option('--seeds <n>', 'runs per contender, pooled', '5')
  .option('--scale <n>', 'lengthen each run this many times (steady scenarios only)', '1')
  .option(
    '--round-trip <ms>',
    "every scenario at this client round trip (default: each scenario's addedDelay; 0: the balancing alone)",
  )
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
  const roundTrip =
    o.roundTrip === undefined ? undefined : wholeNumber('sim', '--round-trip', o.roundTrip, 0);
  const known = scenarioFiles();
  const files = [
    ...(o.scenario ?? (o.scenarioFile ? [] : [...known.keys()])).map((n) => {
      const file = known.get(n);
      if (!file) fail(`sim: no scenario "${n}" (have: ${[...known.keys()].join(', ')})`, EXIT.usage);
      return file;
    }),
    ...(o.scenarioFile ?? []),
  ];
  const out: Record<string, unknown> = {};
  for (const file of files) {
    const read = loadScenario(file);
    const loaded = roundTrip === undefined ? read : { ...read, addedDelay: roundTrip };
    const steady = loaded.speed.length === 0 && !Array.isArray(loaded.load);
    const s: Scenario = steady ? { ...loaded, duration: loaded.duration * scale } : loaded;
    const contenders = o.contenders
      ? parseList(o.contenders)
      : contendersFor(s.name, false, { doors: s.doors });
    const started = performance.now();
    const rows = contenders.map((c) => {
      const runs: Records[] = [];
      for (let seed = 1; seed <= seeds; seed++) runs.push(simulate(s, c, seed));
      return { c, runs, summary: summarize(pool(runs)) };
    });
    const cells = rows.map((r) => ({ label: label(r.c), runs: r.runs, summary: r.summary }));
    console.log(
      formatTable(
        s,
        cells,
        `${seeds} seeds of ${s.duration / 1000} s pooled; simulated in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      ),
    );
    out[s.name] = cells.map((r) => ({ contender: r.label, ...r.summary, ...extras(s, r.runs) }));
  }
  if (o.json) writeFileSync(o.json, `${JSON.stringify(out, null, 2)}\n`);
}

/** Every known scenario's name and file, the lab's first. */
function scenarioFiles(): Map<string, string> {
  const out = new Map<string, string>();
  for (const dir of FOLDERS)
    for (const f of readdirSync(dir)
      .filter((x) => x.endsWith('.yaml'))
      .sort())
      if (!out.has(basename(f, '.yaml'))) out.set(basename(f, '.yaml'), join(dir, f));
  return out;
}

function parseList(text: string): ContenderSpec[] {
  return text.split(',').map((t) => {
    const c = parseContender(t);
    if (!c) fail(`sim: --contenders: unknown contender "${t}"`, EXIT.usage);
    return c;
  });
}

program.parse();
