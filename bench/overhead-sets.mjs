// bench:overhead-sets: the interface's added CPU a request, measured in fresh processes that
// take turns. It answers the question bench:overhead's two measures leave open:
//
// - bench:overhead's interleaved pairs run both ways in ONE process, so whatever the interface
//   does to how V8 runs Node's own code (inline caches, compiled code, object shapes) is in
//   the bare half too, and that measure reads low.
// - Its rounds use fresh processes, but each is measured once, seconds after the other, so a
//   drift or an order effect between the two runs is in the figure.
//
// Here each SET starts fresh servers side by side on the server's core (bare, with the
// interface, and with --against a second build of the interface), warms each, then gives
// them short heavy runs in turn, in an order that rotates and reverses (--slices runs each).
// A set's figure is its own servers' CPU a request, each against the bare one: no drift
// between them, and no process that has run both ways. The sets are fresh processes again,
// so the spread between sets is the spread between processes, and the summary gives the
// mean with its standard error.
//
// Two things in a set are not the steady cost of the interface, and are kept out (D37):
// - The first round. A server's first run after the others' warm-ups (seconds idle) reads
//   several µs high in every server, with the interface more than bare: a cost of coming
//   back from idle, not of steady load. It is run, measured and shown apart ("first
//   round"), and left out of the figures.
// - A burst of the VM's own. A run now and then reads several µs high in whatever server
//   has it (other guests on the host). Each round runs every server once, seconds apart,
//   so a set's figure for a server is the median of its differences from bare round by
//   round ("paired"). The mean over all its runs is shown beside it ("all runs pooled").
//
// CPU is read from /proc/<pid>/task/*/schedstat (ns, all threads); requests from wrk.
// Cores: servers on core 0; wrk and the agent (bench/overhead-agent.mjs) on core 1.
//
// Usage: npm run bench:overhead-sets -- [--sets N] [--slices N] [--slice S] [--against MODULE]
//   --sets N          fresh sets of servers (default 8; env BENCH_SETS)
//   --slices N        heavy runs of each server in a set (default 8; env BENCH_SLICES)
//   --slice S         seconds a run (default 1; env BENCH_SLICE)
//   --against MODULE  also run a server with the interface loaded from MODULE (another
//                     build's dist/interface/index.js), to compare two builds
//   --fields LIST     also run a server whose records carry only these optional fields
//                     (names as in agents[].fields, comma-separated; "none" for the
//                     required ones alone), to show what the fields cost side by side
//   --quick           1 set of 2 runs after the first: a smoke run, its figure means nothing
// The goal (issue 7): under 5 µs a request. It is shown met when the mean of the sets'
// paired figures plus two standard errors is under 5.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { calibrate, BROWSER_HEADERS as HEADERS, PAGE_PATH as PATH } from './overhead-page.mjs';
import {
  BenchError,
  ensureTools,
  makeTempDir,
  median,
  runWrk,
  startNode,
  stopAll,
  stoppedBySignal,
} from './wrk-common.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const GOAL_US = 5;
const HANDLER_US = 50;
const CORES = { server: 0, client: 1 };
const CONNECTIONS = 32;
const WARMUP_S = 2;
const CONNECT_TIMEOUT_MS = 10_000;

function options() {
  const { values } = parseArgs({
    options: {
      sets: { type: 'string', default: process.env.BENCH_SETS ?? '8' },
      slices: { type: 'string', default: process.env.BENCH_SLICES ?? '8' },
      slice: { type: 'string', default: process.env.BENCH_SLICE ?? '1' },
      against: { type: 'string' },
      fields: { type: 'string' },
      quick: { type: 'boolean', default: false },
    },
  });
  const whole = (name, v, lo, hi) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi)
      throw new BenchError(`--${name}: expected a whole number from ${lo} to ${hi}, got "${v}"`);
    return n;
  };
  const o = {
    sets: values.quick ? 1 : whole('sets', values.sets, 1, 50),
    slices: values.quick ? 2 : whole('slices', values.slices, 1, 100),
    slice: whole('slice', values.slice, 1, 60),
    against: values.against === undefined ? undefined : resolve(values.against),
  };
  if (o.against && !existsSync(o.against)) throw new BenchError(`--against: ${o.against} not found`);
  if (values.fields !== undefined)
    o.fields = { names: values.fields === 'none' ? [] : values.fields.split(',').map((f) => f.trim()) };
  return o;
}

/** The mask of the fields named, from the build's own list of them. */
async function maskOf(names) {
  const { FIELD_NAMES, fieldMask } = await import(join(ROOT, 'dist/protocol/local-record.js'));
  const unknown = names.find((f) => !FIELD_NAMES.includes(f));
  if (unknown !== undefined)
    throw new BenchError(`--fields: "${unknown}" is not a field (have: ${FIELD_NAMES.join(', ')}, or none)`);
  return fieldMask(names);
}

async function startServer(name, reps, socket, module, mask) {
  const args = [join(ROOT, 'bench/overhead-server.mjs'), '--reps', String(reps)];
  if (socket) args.push('--agent', socket);
  if (module) args.push('--interface', module);
  if (mask !== undefined) args.push('--mask', String(mask));
  const s = await startNode(name, CORES.server, args, /^overhead-server listening on (\d+)$/, ROOT);
  if (socket) {
    const deadline = Date.now() + CONNECT_TIMEOUT_MS;
    while (!(await s.ask('stats')).connected) {
      if (Date.now() > deadline) throw new BenchError(`${name}: its interface did not reach the agent`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { ...s, url: `http://127.0.0.1:${s.match[1]}${PATH}` };
}

/** CPU time of every thread of `pid`, µs, from schedstat (ns resolution). */
function cpuUs(pid) {
  let ns = 0;
  let tasks;
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    throw new BenchError(`process ${pid} is gone (a server died during the set)`);
  }
  for (const t of tasks) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that ended between the listing and the read
    }
  }
  return ns / 1e3;
}

/** Orders that rotate and reverse, so each server runs in each place equally often. */
function orders(names) {
  const out = [];
  for (let r = 0; r < names.length; r++) {
    const o = names.map((_, i) => names[(i + r) % names.length]);
    out.push(o, [...o].reverse());
  }
  return out;
}

async function runSet(o, socket, k) {
  const servers = { bare: await startServer('bare', o.reps, undefined, undefined) };
  servers.interface = await startServer('interface', o.reps, socket, undefined);
  if (o.against) servers.against = await startServer('against', o.reps, socket, o.against);
  if (o.fields) servers.fields = await startServer('fields', o.reps, socket, undefined, o.fields.mask);
  const names = Object.keys(servers);
  const load = (s, seconds) =>
    runWrk({
      url: s.url,
      seconds,
      connections: CONNECTIONS,
      threads: 1,
      core: CORES.client,
      headers: HEADERS,
    });
  /** One heavy run of server `n`: the CPU it took (µs) and wrk's figures. */
  const measure = async (n) => {
    const before = cpuUs(servers[n].pid);
    const r = await load(servers[n], o.slice);
    return { us: cpuUs(servers[n].pid) - before, r };
  };
  for (const n of names) await load(servers[n], WARMUP_S);
  const order = orders(names);
  // The first round is left out of the figures, and shown apart: a server's first run after
  // the others' warm-ups (seconds idle) reads high, with the interface more than bare.
  const first = {};
  for (const n of order[k % order.length]) {
    const { us, r } = await measure(n);
    first[n] = us / r.requests;
  }
  const acc = Object.fromEntries(names.map((n) => [n, { us: 0, requests: 0, errors: 0, rounds: [] }]));
  for (let i = 0; i < o.slices; i++)
    for (const n of order[(i + k) % order.length]) {
      const { us, r } = await measure(n);
      acc[n].us += us;
      acc[n].requests += r.requests;
      acc[n].errors += r.socketErrors + r.non2xx3xx;
      acc[n].rounds.push(us / r.requests);
    }
  const dropped = {};
  for (const n of names.slice(1)) dropped[n] = (await servers[n].ask('stats')).dropped;
  await stopAll();
  const per = (n) => acc[n].us / acc[n].requests;
  // Each round runs every server once, a few seconds apart: the median of a server's
  // differences from bare round by round leaves out a round that a burst of the VM's own
  // (other guests on the host) hit on one side only.
  const paired = (n) => median(acc[n].rounds.map((x, i) => x - acc.bare.rounds[i]));
  const errors = Object.fromEntries(names.map((n) => [n, acc[n].errors]));
  const others = names.slice(1);
  return {
    bare: per('bare'),
    added: Object.fromEntries(others.map((n) => [n, per(n) - per('bare')])),
    paired: Object.fromEntries(others.map((n) => [n, paired(n)])),
    first: Object.fromEntries(others.map((n) => [n, first[n] - first.bare])),
    dropped,
    errors,
  };
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stderr = (xs) =>
  xs.length < 2
    ? Number.NaN
    : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1) / xs.length);
const signed = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;

async function main() {
  const o = options();
  ensureTools(
    console.log,
    ROOT,
    ['dist/interface/index.js', 'dist/agent/interface-listener.js'],
    'bench:overhead-sets',
  );
  if (o.fields) o.fields.mask = await maskOf(o.fields.names);
  const socket = join(makeTempDir(), 'agent.sock');
  // The same handler as bench:overhead's: renders of the page adding up to about 50 µs.
  o.reps = calibrate(HANDLER_US).reps;
  const agentArgs = [join(ROOT, 'bench/overhead-agent.mjs'), socket];
  console.log(
    `bench:overhead-sets: ${o.sets} sets, ${o.slices} runs of ${o.slice} s per server per set, ` +
      `${o.reps} renders a request; ` +
      `servers on core ${CORES.server}, wrk and agent on core ${CORES.client}`,
  );
  const runs = [];
  for (let k = 0; k < o.sets; k++) {
    await startNode('agent', CORES.client, agentArgs, /^overhead-agent listening on /, ROOT);
    const r = await runSet(o, socket, k);
    runs.push(r);
    const parts = Object.entries(r.added).map(
      ([n, v]) => `${n} ${signed(v)} (paired ${signed(r.paired[n])})`,
    );
    const firsts = Object.entries(r.first).map(([n, v]) => `${n} ${signed(v)}`);
    console.log(
      `set ${k + 1}: bare ${r.bare.toFixed(2)} µs/req; added: ${parts.join(', ')}; first round: ${firsts.join(', ')}; records dropped ${JSON.stringify(r.dropped)}; wrk errors ${JSON.stringify(r.errors)}`,
    );
  }
  const summary = {};
  for (const n of Object.keys(runs[0].added)) {
    const xs = runs.map((r) => r.added[n]);
    const ps = runs.map((r) => r.paired[n]);
    const fs = runs.map((r) => r.first[n]);
    summary[n] = { mean: mean(ps), se: stderr(ps) };
    console.log(
      `${n}: adds ${signed(mean(ps))} µs of CPU a request, paired by round (standard error ${stderr(ps).toFixed(2)}, ${xs.length} sets); all runs pooled ${signed(mean(xs))} (${stderr(xs).toFixed(2)}); first rounds, left out: ${signed(mean(fs))} (${stderr(fs).toFixed(2)})`,
    );
  }
  if (o.against) {
    const d = runs.map((r) => r.paired.against - r.paired.interface);
    const dp = runs.map((r) => r.added.against - r.added.interface);
    console.log(
      `against - interface: ${signed(mean(d))} µs a request, paired by round (standard error ${stderr(d).toFixed(2)}); all runs pooled ${signed(mean(dp))} (${stderr(dp).toFixed(2)})`,
    );
  }
  if (o.fields)
    console.log(
      `fields: the interface with records of the required fields and ${o.fields.names.join(', ') || 'no others'}`,
    );
  const { mean: m, se } = summary.interface;
  if (runs.length < 2) console.log('verdict: one set gives no error bar; run more sets to judge the goal');
  else if (m + 2 * se < GOAL_US)
    console.log(`verdict: under ${GOAL_US} µs a request, beyond two standard errors: goal met`);
  else if (m - 2 * se > GOAL_US)
    console.log(`verdict: over ${GOAL_US} µs a request, beyond two standard errors: goal NOT met`);
  else console.log(`verdict: within two standard errors of ${GOAL_US} µs: not shown either way`);
  await stopAll();
}

try {
  await main();
} catch (e) {
  if (!stoppedBySignal())
    console.error(`bench:overhead-sets: ${e instanceof BenchError ? e.message : (e?.stack ?? e)}`);
  await stopAll();
  process.exitCode = 1;
}
