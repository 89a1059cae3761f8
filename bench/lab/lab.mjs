// The balancing lab (issue 8): `npm run lab -- [--scenario NAME.. | --scenario-file PATH..]
// [--runs N] [--quick] [--contenders a,b]`. For every scenario and contender it starts real
// processes on 127.0.0.1 (the lab's servers behind the interface, Switchyard's manager and
// agent, the contender's doors, the load generator), keeps each cell's records on disk
// (bench/results/lab/SCENARIO/CONTENDER-rN.json: a rerun skips finished cells), and prints
// one table a scenario. `--quick` runs every scenario once for a few seconds with
// Switchyard's default and lc, in a scratch folder: a check that everything runs.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { contendersFor, label, parseContender } from '../../dist/lab/contenders.js';
import { freePorts } from '../../dist/lab/free-ports.js';
import { labSiteText } from '../../dist/lab/lab-site.js';
import { loadScenario, slotsOf } from '../../dist/lab/scenario.js';
import { BenchError, clockTicks, siteKeys } from '../common.mjs';
import { writeCharts } from './charts.mjs';
import { proxyDoorCommand } from './contenders.mjs';
import { ProcessGroup, waitFor } from './processes.mjs';
import { report } from './report.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/cli/main.js');
const SCENARIOS = join(ROOT, 'bench/lab/scenarios');

const { values: a } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true },
    'scenario-file': { type: 'string', multiple: true },
    runs: { type: 'string', default: '1' },
    quick: { type: 'boolean', default: false },
    contenders: { type: 'string' },
    results: { type: 'string' },
    pictures: { type: 'string' },
    'round-trip': { type: 'string' },
  },
});

// The client round trip every scenario is scored at (each scenario's addedDelay, 20 ms
// unless it says): `--round-trip 0` gives the balancing alone, kept apart in the results.
const roundTrip = a['round-trip'] === undefined ? undefined : Number(a['round-trip']);
if (roundTrip !== undefined && !(Number.isInteger(roundTrip) && roundTrip >= 0 && roundTrip <= 10_000))
  throw new BenchError(`--round-trip must be whole ms from 0 to 10000, got ${a['round-trip']}`);
const runs = Number(a.runs);
if (!Number.isInteger(runs) || runs < 1)
  throw new BenchError(`--runs must be a whole number >= 1, got ${a.runs}`);
const known = readdirSync(SCENARIOS)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => basename(f, '.yaml'))
  .sort();
const files = [
  ...(a.scenario ?? (a['scenario-file'] ? [] : known)).map((n) => {
    if (!known.includes(n)) throw new BenchError(`no scenario "${n}" (have: ${known.join(', ')})`);
    return join(SCENARIOS, `${n}.yaml`);
  }),
  ...(a['scenario-file'] ?? []).map((f) => resolve(f)),
];
const resultsDir = a.quick
  ? mkdtempSync(join(tmpdir(), 'sy-lab-quick-'))
  : resolve(a.results ?? join(ROOT, 'bench/results/lab'));
// SVGs: beside BENCHMARKS.md's figures for a real run; in the scratch folder for `--quick`,
// which still draws them so CI checks that drawing works.
const picturesDir = a.quick ? resultsDir : resolve(a.pictures ?? join(ROOT, 'bench/results'));

/** A scenario cut to `seconds` measured, its times scaled with it (`--quick`). */
function shorten(s, seconds) {
  const f = (seconds * 1000) / s.duration;
  const scale = (t) => Math.round(t * f);
  return {
    ...s,
    duration: seconds * 1000,
    warmup: 1000,
    // Sessions' think time shrinks too, so the last users' follow-ups do not outlast the run.
    ...(s.sessions ? { sessions: { ...s.sessions, think: Math.min(s.sessions.think, 200) } } : {}),
    load: Array.isArray(s.load) ? s.load.map((x) => ({ ...x, at: scale(x.at) })) : s.load,
    speed: s.speed.map((x) => ({
      ...x,
      from: scale(x.from),
      ...(x.to !== undefined ? { to: scale(x.to) } : {}),
    })),
  };
}

const TICKS = clockTicks();

/** The build the cells are run on: the commit, marked when the work tree has changes. */
const BUILD = (() => {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT })
      .toString()
      .trim();
    return dirty ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
})();

function cellCommit(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8')).commit;
  } catch {
    return undefined;
  }
}

/** CPU seconds of a process and everything below it (Linux /proc). */
function treeCpu(pid) {
  const stats = new Map();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const text = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(p), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {}
  }
  let ticks = 0;
  const walk = (p) => {
    const s = stats.get(p);
    if (!s) return;
    ticks += s.ticks;
    for (const [q, t] of stats) if (t.ppid === p) walk(q);
  };
  walk(pid);
  return ticks / TICKS;
}

const answers = async (url, statuses) => {
  const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return statuses.includes(res.status);
};

async function runCell(s, scenarioFile, c, out) {
  const dir = mkdtempSync(join(tmpdir(), 'sy-lab-'));
  const group = new ProcessGroup({
    env: { ...process.env, ...siteKeys(randomBytes(24).toString('hex')) },
  });
  const start = (name, cmd, args) => group.start(name, cmd, args);
  try {
    const socket = join(dir, 'agent.sock');
    // Every port at once, so none is chosen twice: servers, doors, the manager, door admins.
    const ports = await freePorts(s.servers.length + 2 * s.doors + 1);
    const serverPorts = ports.splice(0, s.servers.length);
    const doorPorts = ports.splice(0, s.doors);
    const adminPorts = ports.splice(0, s.doors);
    const managerAddr = `127.0.0.1:${ports[0]}`;
    const urls = serverPorts.map((p) => `http://127.0.0.1:${p}`);
    const servers = start('servers', process.execPath, [
      join(import.meta.dirname, 'servers.mjs'),
      ...['--scenario', scenarioFile, '--agent-socket', socket, '--ports', serverPorts.join(',')],
    ]);
    const doorUrls = doorPorts.map((p) => `http://127.0.0.1:${p}`);
    const isSy = c.name === 'switchyard' || c.name === 'switchyard-static' || c.name === 'gateway';
    const base = {
      urls,
      manager: managerAddr,
      socket,
      ...(c.reportInterval ? { reportInterval: c.reportInterval } : {}),
    };
    writeFileSync(
      join(dir, 'site.yaml'),
      labSiteText(s, {
        ...base,
        mode: 'dynamic',
        redirects: c.name === 'switchyard' || c.name === 'gateway',
        redirectTarget: doorUrls[0],
      }),
    );
    const monitoring = [];
    monitoring.push(
      start('manager', process.execPath, [
        MAIN,
        'manager',
        '--config',
        join(dir, 'site.yaml'),
        '--data-dir',
        join(dir, 'data'),
      ]),
    );
    monitoring.push(
      start('agent', process.execPath, [MAIN, 'agent', '--config', join(dir, 'site.yaml'), '--name', 'lab']),
    );
    const doors = [];
    for (let i = 0; i < s.doors; i++) {
      if (isSy) {
        const file = join(dir, `door-${i}.yaml`);
        const mode = c.name === 'switchyard-static' ? 'static' : 'dynamic';
        writeFileSync(
          file,
          labSiteText(s, {
            ...base,
            mode,
            listen: `127.0.0.1:${doorPorts[i]}`,
            admin: `127.0.0.1:${adminPorts[i]}`,
            redirectTarget: doorUrls[0],
            // LAB_GATEWAY='{"serverLimit":"none"}': the gateway with other settings, to compare.
            proxy:
              c.name === 'gateway' && (process.env.LAB_GATEWAY ? JSON.parse(process.env.LAB_GATEWAY) : true),
          }),
        );
        // LAB_PROFILE=DIR: each door writes a CPU profile there (where its time goes).
        const profile = process.env.LAB_PROFILE
          ? ['--cpu-prof', `--cpu-prof-dir=${process.env.LAB_PROFILE}`]
          : [];
        doors.push(
          start(`interceptor ${i}`, process.execPath, [...profile, MAIN, 'interceptor', '--config', file]),
        );
      } else {
        const srv = s.servers.map((x, k) => ({
          url: urls[k],
          strength: x.strength,
          slots: slotsOf(x.strength),
        }));
        doors.push(start(c.name, ...proxyDoorCommand(c.name, dir, doorPorts[i], srv)));
      }
    }
    for (const u of urls) await waitFor(`lab: server ${u}`, () => answers(`${u}/lab`, [200]), 20_000);
    for (const u of doorUrls) await waitFor(`lab: door ${u}`, () => answers(`${u}/lab`, [200, 302]), 20_000);
    group.check();
    // The generator's warm-up begins `warmup` before this; a second for it to start.
    const startAt = Date.now() + s.warmup + 1000;
    servers.stdin.write(`${JSON.stringify({ start: startAt })}\n`);
    const records = join(dir, 'records.json');
    const cpu0 = doors.map((d) => treeCpu(d.pid));
    const mgr0 = monitoring.map((d) => treeCpu(d.pid));
    const gen = start('load generator', process.execPath, [
      join(import.meta.dirname, 'loadgen.mjs'),
      ...[
        '--scenario',
        scenarioFile,
        '--start',
        String(startAt),
        '--doors',
        doorUrls.join(','),
        '--servers',
        urls.join(','),
      ],
      '--out',
      records,
      ...(a.quick ? ['--no-tail'] : []),
    ]);
    gen.stopping = true;
    await new Promise((ok) => gen.on('exit', ok));
    if (gen.exitCode !== 0)
      throw new BenchError(`load generator failed (${gen.exitCode}): ${group.failed ?? ''}`);
    group.check();
    const cpu = doors.reduce((sum, d, i) => sum + treeCpu(d.pid) - cpu0[i], 0);
    const monitoringCpu = monitoring.reduce((sum, d, i) => sum + treeCpu(d.pid) - mgr0[i], 0);
    const rec = JSON.parse(readFileSync(records, 'utf8'));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ ...rec, contender: label(c), cpu, monitoringCpu, commit: BUILD }));
  } finally {
    await group.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const wanted = a.contenders
  ? a.contenders.split(',').map((t) => {
      const c = parseContender(t);
      if (!c) throw new BenchError(`--contenders: unknown contender "${t}"`);
      return c;
    })
  : undefined;

const problems = [];
const began = Date.now();
for (const file of files) {
  const full = loadScenario(file);
  if (full.servers.some((x) => x.start !== undefined)) {
    console.log(
      `lab: ${full.name}: a server that joins later (servers[].start) runs in the simulator only; skipped`,
    );
    continue;
  }
  const timed = roundTrip === undefined ? full : { ...full, addedDelay: roundTrip };
  const s = a.quick ? shorten(timed, 4) : timed;
  // Cells run with other gateway settings (LAB_GATEWAY) are kept apart: a later run of the
  // defaults must not take them for its own.
  const variant = process.env.LAB_GATEWAY
    ? `-gw-${createHash('sha256').update(process.env.LAB_GATEWAY).digest('hex').slice(0, 8)}`
    : '';
  const cellsDir = join(
    resultsDir,
    `${roundTrip === undefined ? s.name : `${s.name}-rt${roundTrip}`}${variant}`,
  );
  let scenarioFile = file;
  if (a.quick || roundTrip !== undefined) {
    mkdirSync(cellsDir, { recursive: true });
    scenarioFile = join(cellsDir, 'scenario.json');
    writeFileSync(scenarioFile, JSON.stringify(s));
  }
  const contenders = wanted ?? contendersFor(s.name, a.quick, { doors: s.doors });
  // Switchyard's default, the gateway, lc, lc-w and lc-q run `runs` times; the other contenders
  // and variants once (issue 30's goals are medians over three runs of those).
  const repeats = (c) => (['switchyard', 'gateway', 'lc', 'lc-w', 'lc-q'].includes(label(c)) ? runs : 1);
  for (let r = 1; r <= runs; r++) {
    for (const c of contenders) {
      if (r > repeats(c)) continue;
      const out = join(cellsDir, `${label(c)}-r${r}.json`);
      // A cell is kept only when the same build ran it: a table that decides a goal comes
      // from one build (issue 27).
      if (existsSync(out) && cellCommit(out) === BUILD) continue;
      const t = Date.now();
      process.stderr.write(`lab: ${s.name} ${label(c)} run ${r} ... `);
      await runCell(s, scenarioFile, c, out);
      process.stderr.write(`${((Date.now() - t) / 1000).toFixed(0)} s\n`);
    }
  }
  const cells = report(s, cellsDir, contenders);
  if (cells.length > 0) {
    const svgs = await writeCharts(s, cells, picturesDir);
    if (!a.quick) console.log(`pictures: ${svgs.map((f) => relative(process.cwd(), f)).join(', ')}`);
  }
  // `--quick` is a check that everything runs: every contender must have answered, only to
  // configured servers, without errors unless the scenario overloads on purpose.
  for (const c of cells) {
    const m = c.summary.routed;
    const bad = c.runs.some((r) => r.badRedirects > 0);
    const overload = Array.isArray(s.load) && s.load.some((x) => x.share > 1);
    if (a.quick && (m.requests === 0 || bad || (!overload && m.errors > 0.01 * m.requests))) {
      problems.push(
        `${s.name} ${c.label}: ${m.requests} requests, ${m.errors} errors${bad ? ', redirects to unknown places' : ''}`,
      );
    }
  }
}
if (a.quick) rmSync(resultsDir, { recursive: true, force: true });
console.log(`\nlab: ${files.length} scenario(s) in ${((Date.now() - began) / 1000).toFixed(0)} s`);
if (problems.length > 0) {
  console.error(`lab: something did not run as it should:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
