// The fault suite (issue 28 section 3): `npm run faults [-- --short] [--only NAME,...]
// [--dist DIR] [--json FILE] [--keep]`. Each row starts a whole site of real processes on
// 127.0.0.1, sends a bounded load straight to two demo servers with every request carrying its
// own id, applies one fault (kill -9 and restart, the store locked or read-only, the manager
// stopped while a server redirects), then counts the ids in the manager's store. Goal of every
// row: nothing lost, nothing stored twice, nobody down but the component faulted, which is
// back. The hostile rows (faults/hostile.mjs, issue 29 item 5) send no counted load but one
// kind of hostile input each; their goal: the defence holds, all stay up, nothing is stored
// wrongly. Prints one markdown table; exit code 0 when every row meets its goal, 1 otherwise.
// See docs/reliability.md.
import { execSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { HEALTH_GOAL_MS, LINK_GOAL_MS } from './faults/hostile.mjs';
import { LEASE_GOAL_MS, ROWS, runRow } from './faults/rows.mjs';
import { killEverything, tempDirs } from './faults/site.mjs';

const { values: args } = parseArgs({
  options: {
    dist: { type: 'string', default: join(import.meta.dirname, '..', 'dist') },
    short: { type: 'boolean', default: false },
    only: { type: 'string' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`usage: node scripts/faults.mjs [--dist DIR] [--short] [--only ${ROWS.map((r) => r.name).join(',')}]
                               [--json FILE] [--keep]   (--keep leaves each row's directory and logs)`);
  process.exit(0);
}
const dist = resolve(args.dist);
if (!existsSync(join(dist, 'cli', 'main.js'))) {
  console.error(`faults: no built CLI at ${join(dist, 'cli', 'main.js')} (npm run build, or --dist DIR)`);
  process.exit(2);
}
const only = args.only?.split(',').filter(Boolean);
const unknown = only?.filter((n) => !ROWS.some((r) => r.name === n)) ?? [];
if (unknown.length > 0) {
  console.error(`faults: no row ${unknown.join(', ')} (rows: ${ROWS.map((r) => r.name).join(', ')})`);
  process.exit(2);
}

/**
 * How big and long each row is. --short is CI's: half the load, so the seven rows take well
 * under three minutes on two cores. The lock is 10 s in both (twice the store's busy time-out).
 */
const options = {
  dist,
  count: args.short ? 240 : 480,
  rate: 40,
  /** How long a killed component stays away before it is started again. */
  awayMs: 2000,
  readOnlyMs: args.short ? 3000 : 6000,
  /** How long the manager stays stopped while web-a's redirecting is watched. */
  leaseWatchMs: args.short ? 4000 : 5000,
  /**
   * The store counts as settled when unchanged this long (2 s once every answered id is in):
   * longer than a batch's age (1 s) plus the agent's slow tick (1 s), and than a sender that
   * re-sends unacknowledged batches every few seconds would take.
   */
  quietMs: args.short ? 5000 : 6000,
  settleDeadlineMs: 30_000,
};

// Whatever happens (Ctrl-C, a crash of the suite), no process of it outlives it.
const cleanUp = () => {
  killEverything();
  if (!args.keep) for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanUp);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(sig, () => {
    console.error(`faults: ${sig}: stopping every process of the suite`);
    process.exit(130);
  });

const started = Date.now();
const rows = ROWS.filter((r) => !only || only.includes(r.name));
const results = [];
for (const row of rows) {
  const t0 = Date.now();
  process.stderr.write(`faults: ${row.name} ...`);
  let r;
  try {
    r = await runRow(row, options);
  } catch (e) {
    r = {
      name: row.name,
      label: row.label,
      hostile: Boolean(row.hostile),
      error: e.message,
      pass: false,
      notes: [],
    };
  }
  results.push(r);
  const how = r.notPossible ? 'not possible here' : r.error ? `error: ${r.error}` : r.pass ? 'pass' : 'FAIL';
  process.stderr.write(` ${how} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
}

const yesNo = (b) => (b ? 'yes' : 'no');
/**
 * The table's columns, each with its cell for a row. The counted rows' columns show when a
 * counted row ran, the hostile rows' when a hostile one did; a row leaves the other's empty.
 */
const counted = results.some((r) => !r.hostile);
const hostile = results.some((r) => r.hostile);
const figure = (r, f) => (r.hostile || r.notPossible || r.error ? '–' : f(r));
const columns = [
  { head: 'row', cell: (r) => `\`${r.name}\`` },
  { head: hostile ? 'fault or input' : 'fault', cell: (r) => r.label },
  ...(counted
    ? [
        { head: 'answered', right: true, cell: (r) => figure(r, (x) => `${x.answered} of ${x.sent}`) },
        { head: 'stored', right: true, cell: (r) => figure(r, (x) => String(x.stored)) },
        { head: 'duplicated', right: true, cell: (r) => figure(r, (x) => String(x.duplicated)) },
        { head: 'lost', right: true, cell: (r) => figure(r, (x) => String(x.lost)) },
      ]
    : []),
  ...(hostile ? [{ head: 'answer', cell: (r) => (r.hostile && r.answer) || '–' }] : []),
  {
    head: hostile ? 'all up' : 'others up',
    cell: (r) => {
      if (r.notPossible || r.error) return '–';
      if (r.hostile) return yesNo(r.up);
      return (r.othersUp ? 'yes' : 'no') + (r.killed ? `; ${r.killed} back: ${yesNo(r.back)}` : '');
    },
  },
  ...(hostile
    ? [
        {
          head: 'stored wrongly',
          cell: (r) =>
            r.hostile && r.storedWrongly !== undefined ? `${r.storedWrongly} (${r.stored})` : '–',
        },
      ]
    : []),
  ...(counted ? [{ head: 'redirect stopped', cell: (r) => (r.redirect ? r.redirect.text : '–') }] : []),
  {
    head: 'verdict',
    cell: (r) =>
      r.notPossible
        ? `not possible here: ${r.notPossible}`
        : r.error
          ? `FAIL (error: ${r.error})`
          : r.pass
            ? 'pass'
            : 'FAIL',
  },
];
const lines = [
  `| ${columns.map((c) => c.head).join(' | ')} |`,
  `|${columns.map((c) => (c.right ? '---:' : '---')).join('|')}|`,
  ...results.map((r) => `| ${columns.map((c) => c.cell(r)).join(' | ')} |`),
];
console.log(lines.join('\n'));
console.log('');
for (const r of results)
  if (r.notes?.length > 0)
    console.log(`- ${r.name}: ${r.notes.join('; ')}${args.keep && r.dir ? ` (${r.dir})` : ''}`);

let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { cwd: import.meta.dirname, encoding: 'utf8' }).trim();
} catch {}
const seconds = Math.round((Date.now() - started) / 1000);
console.log(
  `\n${args.short ? 'short' : 'full'} run${counted ? `, ${options.count} requests at ${options.rate}/s a counted row` : ''}, ${seconds} s; dist ${dist}; suite at commit ${commit}; Node ${process.version}${counted ? `; lease goal ${LEASE_GOAL_MS / 1000} s` : ''}${hostile ? `; /healthz goal ${HEALTH_GOAL_MS} ms, link goal ${LINK_GOAL_MS / 1000} s` : ''}`,
);
if (args.json)
  writeFileSync(
    args.json,
    `${JSON.stringify({ date: new Date().toISOString(), commit, dist, short: args.short, seconds, options, rows: results }, null, 2)}\n`,
  );
process.exitCode = results.every((r) => r.pass) ? 0 : 1;
