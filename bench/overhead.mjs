// The web server interface's cost: the same Node server with and without it.
//
// Two servers run bench/overhead-server.mjs: node:http with a handler that renders a small
// page (about 50 µs of work, bench/overhead-page.mjs). *bare* is that server alone;
// *interface* wraps the same handler with createInterface(...).wrap (dist/interface), every
// record field on, records sent over a Unix socket to the agent: bench/overhead-agent.mjs,
// the real InterfaceListener in a process of its own, counting what it receives.
//
// Each server runs on core 0, alone. wrk runs on core 1, and so does the agent: on a 2-core
// machine the only way to keep the server's core to itself. Neither fills core 1 (its busy
// share is reported; a warning says when it passes 90 %). With 3 or more cores the agent gets
// core 2. Both servers get the same keep-alive load with browser-like headers: wrk -t1 -c32
// (heavy: the server's core is full, which gives throughput and CPU per request) and
// wrk -t1 -c1 (light: one request at a time, which gives the latency the interface adds to
// each request).
//
// The measured runs come in rounds. Each round starts two fresh servers, warms each up, runs
// each at each load, and stops them: two processes of the same program differ in speed by
// themselves (their memory layout, what the JIT made of them), by a few µs a request, as much
// as the goal, and no number of runs of the same two processes averages that out; over fresh
// pairs it is noise like any other. Each server is warmed up just before its own runs. The
// bare server is started and run first in odd rounds, the interface in even ones, so that
// neither going first nor drift on the machine favours one of them.
//
// The rounds' cost figures come from their paired figures: each round's interface run
// against that round's bare run, seconds apart, on nearly the same machine (this one's speed
// wanders by a few per cent over minutes, a shared virtual machine). The server run second
// in a round has been seen to read up to 5 µs a request slower, whichever it was, so the
// figure is the mean of two medians, the rounds with bare first and those with the
// interface first, which cancels that; half their difference is printed as the order
// effect. The difference of the two servers' medians is printed too. With --control both
// servers of every round run without the interface: what the figures then show is the
// method's own error.
//
// Then, interleaved: one more server, whose interface is switched off and on while it runs
// (overhead-server.mjs --switchable), serves short heavy runs in pairs, one each way, the
// order alternating (ABBA). Both halves of a pair run in the same process, seconds apart,
// so the difference between processes that spreads the rounds' figures by ±4 µs is not in
// it; what it cannot show is an effect the interface has on how V8 compiles Node's own code
// (that process has run both ways), which the rounds do show. The added-CPU goal is shown
// met only when both figures are under it.
//
// CPU time per request is a process's utime + stime (/proc/<pid>/stat) over the run, divided
// by the requests wrk counted: for each server, and for the agent apart. The agent's count of
// records received (and of records the interface said it dropped) is compared with the
// requests the server answered. "Other load" is the CPU time other processes took on the
// cores in use during a run (/proc/stat); a run above 5 % is repeated, the least disturbed
// attempt kept.
//
// Goals, for the server process: throughput cost (1 - interface/bare req/s) under 10 %, and
// added CPU under 5 µs per request.
//
// Usage: npm run bench:overhead                    (builds first)
//        node bench/overhead.mjs [--duration S] [--light-duration S] [--rounds N] [--retries N]
//                                [--warmup S] [--handler-us N] [--interleaved N] [--slice S]
//                                [--quick] [--control] [--json]
//   --duration S        seconds per measured heavy run (default 5; env BENCH_SECONDS)
//   --light-duration S  seconds per measured light run, 0 for none (default half of
//                       --duration, rounded up; env BENCH_LIGHT_SECONDS)
//   --rounds N          rounds, each with two fresh servers (default 8; env BENCH_ROUNDS)
//   --retries N         repeats of a run disturbed by other processes (default 2; env BENCH_RETRIES)
//   --warmup S          seconds of warm-up of each server in each round (default 2; env BENCH_WARMUP)
//   --handler-us N      the handler's work, µs (default 50; env BENCH_HANDLER_US)
//   --interleaved N     pairs of interleaved runs, 0 for none (default 24; env BENCH_INTERLEAVED)
//   --slice S           seconds per interleaved run (default 2; env BENCH_SLICE)
//   --quick             a smoke run: 1 s runs, 1 s warm-up, 1 round, 2 interleaved pairs of 1 s
//   --control           no interface anywhere (an A/A run): the methods' own error
//   --json              print one JSON object instead of the tables
// Flags win over the environment. Needs Linux (/proc), taskset (util-linux), wrk (installed
// with apt-get when missing) and dist/ (npm run build).
// Exit status: 0 when the benchmark ran (whether or not the goals are met), 1 when it could not.
import { get } from 'node:http';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calibrate, BROWSER_HEADERS as HEADERS, PAGE_PATH as PATH } from './overhead-page.mjs';
import {
  alive,
  BenchError,
  clockTicks,
  coresBusyTicks,
  cpuTicks,
  ensureTools,
  fmt,
  makeTempDir,
  median,
  quantile,
  runWrk,
  startNode,
  stop,
  stopAll,
  stoppedBySignal,
  wrkVersion,
} from './wrk-common.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Goals for the server process. */
const MAX_THROUGHPUT_COST = 0.1;
const MAX_ADDED_CPU_US = 5;
const THREADS = 1;
const HEAVY_CONNECTIONS = 32;
const LIGHT_CONNECTIONS = 1;
/** Time limits, ms: every wait below is bounded by one of these. */
const CONNECT_TIMEOUT_MS = 10_000;
const DRAIN_TIMEOUT_MS = 3_000;
const PROBE_TIMEOUT_MS = 5_000;
/** Share of the cores in use other processes may take during a run before it is repeated. */
const OTHER_LOAD_WARN = 0.05;
/** Busy share of wrk's core (wrk + agent) above which wrk may be what limits the servers. */
const CLIENT_CORE_WARN = 0.9;

// ---------------------------------------------------------------------------------------------
// Arguments

function usage() {
  return (
    'usage: node bench/overhead.mjs [--duration S] [--light-duration S] [--rounds N] [--retries N]\n' +
    '                               [--warmup S] [--handler-us N] [--interleaved N] [--slice S]\n' +
    '                               [--quick] [--control] [--json]'
  );
}

function whole(name, text, min, max) {
  const n = Number(String(text).replace(/s$/, ''));
  if (!Number.isInteger(n) || n < min || n > max)
    throw new BenchError(`${name}: expected a whole number from ${min} to ${max}, got "${text}"`);
  return n;
}

function parseArgs(argv, env) {
  const opts = {
    duration: 5,
    light: undefined,
    rounds: 8,
    retries: 2,
    warmup: 2,
    handlerUs: 50,
    interleaved: 24,
    slice: 2,
  };
  opts.json = false;
  opts.control = false;
  // The environment first, then flags over it.
  const fromEnv = [
    ['BENCH_SECONDS', 'duration', 1, 600],
    ['BENCH_LIGHT_SECONDS', 'light', 0, 600],
    ['BENCH_ROUNDS', 'rounds', 1, 50],
    ['BENCH_RETRIES', 'retries', 0, 10],
    ['BENCH_WARMUP', 'warmup', 0, 600],
    ['BENCH_HANDLER_US', 'handlerUs', 1, 10_000],
    ['BENCH_INTERLEAVED', 'interleaved', 0, 200],
    ['BENCH_SLICE', 'slice', 1, 60],
  ];
  for (const [key, field, min, max] of fromEnv)
    if (env[key] !== undefined && env[key] !== '') opts[field] = whole(key, env[key], min, max);
  const flags = {
    '--duration': ['duration', 1, 600],
    '--light-duration': ['light', 0, 600],
    '--rounds': ['rounds', 1, 50],
    '--retries': ['retries', 0, 10],
    '--warmup': ['warmup', 0, 600],
    '--handler-us': ['handlerUs', 1, 10_000],
    '--interleaved': ['interleaved', 0, 200],
    '--slice': ['slice', 1, 60],
  };
  let quick = false;
  const set = new Set();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (a === '--json') opts.json = true;
    else if (a === '--control') opts.control = true;
    else if (a === '--quick') quick = true;
    else if (a === '--help' || a === '-h') {
      console.log(usage());
      process.exit(0);
    } else if (flags[name]) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new BenchError(`${name} needs a value\n${usage()}`);
      const [field, min, max] = flags[name];
      opts[field] = whole(name, v, min, max);
      set.add(field);
    } else throw new BenchError(`unknown argument "${a}"\n${usage()}`);
  }
  if (quick) {
    if (!set.has('duration')) opts.duration = 1;
    if (!set.has('light')) opts.light = 1;
    if (!set.has('warmup')) opts.warmup = 1;
    if (!set.has('rounds')) opts.rounds = 1;
    if (!set.has('interleaved')) opts.interleaved = 2;
    if (!set.has('slice')) opts.slice = 1;
  }
  opts.light ??= Math.ceil(opts.duration / 2);
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Tools

async function startServer(name, core, reps, agentSocket, switchable = false) {
  const args = [join(ROOT, 'bench/overhead-server.mjs'), '--reps', String(reps)];
  if (agentSocket) args.push('--agent', agentSocket);
  if (switchable) args.push('--switchable');
  const s = await startNode(name, core, args, /^overhead-server listening on (\d+)$/, ROOT);
  const port = Number(s.match[1]);
  return { ...s, port, url: `http://127.0.0.1:${port}${PATH}` };
}

/**
 * The two servers of one round, started in the order they will run: each is started, joined
 * to the agent when it has the interface, and asked for one page, which must be HTML.
 */
async function startPair(ctx, opts, reps, socket, bareFirst) {
  const { agent, cores } = ctx;
  const order = [];
  for (const role of bareFirst ? ['bare', 'interface'] : ['interface', 'bare']) {
    let s;
    if (role === 'bare') s = { ...(await startServer('bare', cores.server, reps)), role };
    // In a control run the second server is bare too, under its own name.
    else if (opts.control) s = { ...(await startServer('bare-2', cores.server, reps)), role };
    else {
      s = { ...(await startServer('interface', cores.server, reps, socket)), role, interface: true };
      await joinAgent(agent, s);
    }
    s.pageBytes = await probe(s);
    order.push(s);
  }
  return order;
}

/** Waits (bounded) until the server's interface is connected to the agent. */
async function joinAgent(agent, s) {
  const connected = await until(CONNECT_TIMEOUT_MS, async () => {
    const [a, st] = await Promise.all([agent.stats(), s.stats()]);
    return a.servers.includes('web-a') && st.connected;
  });
  if (!connected)
    throw new BenchError(`the interface did not connect to the agent within ${CONNECT_TIMEOUT_MS / 1000} s`);
  // The agent's count when this server's records begin (recordsCaughtUp).
  s.agentBase = (await agent.stats()).records;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every 50 ms until it returns true, for at most `ms`; false on time-out. */
async function until(ms, check) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

/** One request: the server must answer 200 with an HTML page. Returns the page's size. */
function probe(server) {
  return new Promise((resolve, reject) => {
    const req = get(server.url, { agent: false, timeout: PROBE_TIMEOUT_MS }, (res) => {
      let size = 0;
      res.on('data', (d) => {
        size += d.length;
      });
      res.on('end', () => {
        if (res.statusCode === 200 && String(res.headers['content-type']).startsWith('text/html'))
          resolve(size);
        else reject(new BenchError(`${server.name}: expected a 200 HTML page, got ${res.statusCode}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new BenchError(`${server.name}: probe failed: ${e.message}`)));
  });
}

// ---------------------------------------------------------------------------------------------
// Measuring

/**
 * One measured run of `server` at `connections`. Besides wrk's figures: the server's and the
 * agent's CPU time per request, the requests the server answered, the records the agent got
 * (after it has caught up, bounded), the records dropped, the busy share of wrk's core, and
 * the CPU time other processes took on the cores in use (`otherLoad`, about 0 on a quiet
 * machine; anything more competed with the benchmark).
 */
async function measure(ctx, server, seconds, connections) {
  const { agent, servers, cores, ticksPerSecond } = ctx;
  for (const p of [agent, ...servers])
    if (!alive(p.child)) throw new BenchError(`${p.name} is no longer running`);
  // The agent may still be reading the warm-up's records: they must not count in this run.
  const { s: sBefore, a: aBefore } = await recordsCaughtUp(agent, server);
  const ours = [agent, ...servers].map((p) => p.pid);
  const oursBefore = ours.map(cpuTicks);
  const serverBefore = cpuTicks(server.pid);
  const agentBefore = cpuTicks(agent.pid);
  const busyBefore = coresBusyTicks();
  const startedAt = process.hrtime.bigint();
  const r = await runWrk({
    url: server.url,
    seconds,
    connections,
    threads: THREADS,
    core: cores.wrk,
    headers: HEADERS,
  });
  const elapsed = Number(process.hrtime.bigint() - startedAt) / 1e9;
  const busyAfter = coresBusyTicks();
  const serverAfter = cpuTicks(server.pid);
  const oursAfter = ours.map(cpuTicks);
  if (!alive(server.child)) throw new BenchError(`${server.name} exited during the run`);

  // The agent may still be reading the last records.
  const { caughtUp, s: sAfter, a: aAfter } = await recordsCaughtUp(agent, server);
  const agentAfter = cpuTicks(agent.pid);

  const cpuSeconds = (serverAfter - serverBefore) / ticksPerSecond;
  const agentCpuSeconds = (agentAfter - agentBefore) / ticksPerSecond;
  const coreList = [...new Set([cores.server, cores.wrk, cores.agent])];
  const busy = (c) => busyAfter.get(c) - busyBefore.get(c);
  const oursTicks = oursAfter.reduce((a, t, i) => a + t - oursBefore[i], 0);
  const other = coreList.reduce((a, c) => a + busy(c), 0) - oursTicks - r.wrkTicks;
  const perRequest = (s) => (r.requests > 0 ? (s * 1e6) / r.requests : Number.NaN);
  const { wrkTicks, ...wrk } = r;
  return {
    ...wrk,
    seconds: elapsed,
    cpuSeconds,
    cpuUsPerRequest: perRequest(cpuSeconds),
    agentCpuSeconds,
    agentCpuUsPerRequest: perRequest(agentCpuSeconds),
    wrkCpuSeconds: wrkTicks / ticksPerSecond,
    clientCoreBusy: busy(cores.wrk) / ticksPerSecond / elapsed,
    otherLoad: Math.max(0, other / ticksPerSecond / (elapsed * coreList.length)),
    served: sAfter.served - sBefore.served,
    handlerUs: handlerMean(sBefore, sAfter),
    records: aAfter.records - aBefore.records,
    droppedByServer: server.interface ? sAfter.dropped - sBefore.dropped : 0,
    droppedReported: aAfter.dropped - aBefore.dropped,
    invalid: aAfter.invalid - aBefore.invalid,
    agentCaughtUp: caughtUp,
  };
}

/**
 * Waits (bounded) until every request `server` answered since it started has its record at
 * the agent or counted as dropped; a bare server at once. Gives the last stats answers of
 * both, and whether they caught up.
 */
async function recordsCaughtUp(agent, server) {
  let s;
  let a;
  const caughtUp = await until(DRAIN_TIMEOUT_MS, async () => {
    [s, a] = await Promise.all([server.stats(), agent.stats()]);
    return !server.interface || a.records - server.agentBase + s.dropped >= s.served;
  });
  return { caughtUp, s, a };
}

/** The mean µs of the handler's own work between two stats answers. */
function handlerMean(a, b) {
  const n = b.served - a.served;
  return n > 0 ? (b.handlerUs * b.served - a.handlerUs * a.served) / n : Number.NaN;
}

/**
 * measure(), again when other processes competed with the run (a bounded number of times),
 * keeping the least disturbed attempt; each attempt is logged under `label`.
 */
async function measureQuietly(ctx, s, seconds, connections, opts, label, log) {
  let kept;
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    const r = await measure(ctx, s, seconds, connections);
    if (!kept || r.otherLoad < kept.otherLoad) kept = r;
    const noisy = r.otherLoad > OTHER_LOAD_WARN;
    log(
      `  ${label} ${fmt(r.rps, 0).padStart(7)} req/s` +
        `  p50 ${fmt(r.p50us, 0).padStart(5)} µs  p99 ${fmt(r.p99us, 0).padStart(6)} µs` +
        `  CPU/req ${fmt(r.cpuUsPerRequest, 1).padStart(5)} µs, agent ${fmt(r.agentCpuUsPerRequest, 1).padStart(4)} µs` +
        `  core ${ctx.cores.wrk} ${(r.clientCoreBusy * 100).toFixed(0).padStart(3)}%` +
        `  other ${(r.otherLoad * 100).toFixed(0).padStart(2)}%` +
        (noisy ? (attempt < opts.retries ? '  (busy machine: again)' : '  (busy machine)') : ''),
    );
    if (!noisy) break;
  }
  return kept;
}

/**
 * The interleaved runs (see the top of the file): one server whose interface is switched off
 * and on between heavy runs, in pairs whose order alternates. In a control run both halves
 * of every pair run bare. Gives the pairs and the records the interface dropped.
 */
async function runInterleaved(ctx, opts, reps, socket, log) {
  const s = {
    ...(await startServer('switchable', ctx.cores.server, reps, socket, true)),
    role: 'switchable',
  };
  ctx.servers = [s];
  await joinAgent(ctx.agent, s);
  await probe(s);
  const switchTo = (role) => s.ask(opts.control || role === 'bare' ? 'mode bare' : 'mode interface');
  for (const role of ['interface', 'bare']) {
    await switchTo(role);
    if (opts.warmup > 0) await runWrk(heavyLoad(ctx, s, opts.warmup));
  }
  const pairs = [];
  for (let i = 0; i < opts.interleaved; i++) {
    const pair = {};
    for (const role of i % 2 === 0 ? ['bare', 'interface'] : ['interface', 'bare']) {
      await switchTo(role);
      const label = `pair ${String(i + 1).padStart(2)} ${(opts.control && role === 'interface' ? 'bare-2' : role).padEnd(9)}`;
      pair[role] = await measureQuietly(ctx, s, opts.slice, HEAVY_CONNECTIONS, opts, label, log);
    }
    pairs.push(pair);
  }
  const { dropped } = await s.stats();
  await stop(s.child);
  return { pairs, dropped };
}

/** wrk's arguments for a heavy run of `seconds` against `s`. */
function heavyLoad(ctx, s, seconds) {
  return {
    url: s.url,
    seconds,
    connections: HEAVY_CONNECTIONS,
    threads: THREADS,
    core: ctx.cores.wrk,
    headers: HEADERS,
  };
}

function summarise(runs) {
  const med = (f) => median(runs.map((r) => r[f]));
  const sum = (f) => runs.reduce((a, r) => a + r[f], 0);
  return {
    rps: med('rps'),
    cpuUsPerRequest: med('cpuUsPerRequest'),
    agentCpuUsPerRequest: med('agentCpuUsPerRequest'),
    p50us: med('p50us'),
    p99us: med('p99us'),
    handlerUs: med('handlerUs'),
    clientCoreBusy: Math.max(...runs.map((r) => r.clientCoreBusy)),
    requests: sum('requests'),
    served: sum('served'),
    records: sum('records'),
    droppedByServer: sum('droppedByServer'),
    droppedReported: sum('droppedReported'),
    invalid: sum('invalid'),
    non2xx3xx: sum('non2xx3xx'),
    socketErrors: sum('socketErrors'),
    maxOtherLoad: Math.max(...runs.map((r) => r.otherLoad)),
    agentCaughtUp: runs.every((r) => r.agentCaughtUp),
    runs,
  };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2), process.env);
  const log = opts.json ? (m) => console.error(m) : (m) => console.log(m);
  ensureTools(log, ROOT, ['dist/interface/index.js', 'dist/agent/interface-listener.js'], 'bench:overhead');

  const ncores = availableParallelism();
  if (ncores < 2)
    log('warning: one core only: wrk, the agent and the server share it; figures are not comparable');
  const cores = {
    server: 0,
    wrk: ncores >= 2 ? 1 : 0,
    agent: ncores >= 3 ? 2 : ncores >= 2 ? 1 : 0,
  };
  const ticksPerSecond = clockTicks();
  const versions = { node: process.version, wrk: wrkVersion() };

  // The handler's work, measured here once so both servers run the same number of renders.
  const { perRenderUs, reps } = calibrate(opts.handlerUs);

  const tmp = makeTempDir();
  const socket = join(tmp, 'agent.sock');
  const agent = await startNode(
    'agent',
    cores.agent,
    [join(ROOT, 'bench/overhead-agent.mjs'), socket],
    /^overhead-agent listening on /,
    ROOT,
  );
  const ctx = { agent, servers: [], cores, ticksPerSecond };
  const second = opts.control ? 'bare-2' : 'interface';

  const loads = [{ name: 'heavy', connections: HEAVY_CONNECTIONS, seconds: opts.duration }];
  if (opts.light > 0) loads.push({ name: 'light', connections: LIGHT_CONNECTIONS, seconds: opts.light });
  const total =
    opts.rounds * (2 * opts.warmup + loads.reduce((a, l) => a + l.seconds * 2, 0) + 3) +
    (opts.interleaved > 0 ? 2 * opts.warmup + opts.interleaved * 2 * (opts.slice + 0.3) + 2 : 0);
  const sharing =
    cores.agent === cores.wrk
      ? `the agent shares core ${cores.agent} with wrk (2 cores: the only way to keep the server's core to itself)`
      : `the agent on core ${cores.agent}`;
  log(
    `interface overhead: handler ${reps} renders × ${perRenderUs.toFixed(1)} µs ≈ ${(reps * perRenderUs).toFixed(0)} µs; ` +
      `wrk -t${THREADS} -c${HEAVY_CONNECTIONS}` +
      (opts.light > 0 ? ` and -c${LIGHT_CONNECTIONS}` : '') +
      ` (keep-alive, browser headers); ${opts.rounds} round(s), each with two fresh servers and a ${opts.warmup} s warm-up of each` +
      (opts.interleaved > 0 ? `, then ${opts.interleaved} interleaved pairs of ${opts.slice} s` : '') +
      `; about ${Math.round(total)} s`,
  );
  log(`servers on core ${cores.server}, wrk on core ${cores.wrk}, ${sharing}`);
  if (opts.control) log(`control run: the second server ("${second}") runs without the interface too`);

  const runs = {};
  for (const l of loads) runs[l.name] = { bare: [], interface: [] };
  let pageBytes;
  for (let round = 1; round <= opts.rounds; round++) {
    // Fresh processes every round, in alternating order (see the top of the file).
    const bareFirst = round % 2 === 1;
    const order = await startPair(ctx, opts, reps, socket, bareFirst);
    ctx.servers = order;
    pageBytes ??= order.find((s) => s.role === 'bare').pageBytes;
    for (const s of order) {
      // Each server is warmed up just before its own runs: a process left idle for seconds
      // has V8 shrink its heap, and starts its run with more garbage collections.
      if (opts.warmup > 0) await runWrk(heavyLoad(ctx, s, opts.warmup));
      for (const l of loads) {
        const label = `round ${round} ${l.name} -c${String(l.connections).padEnd(2)} ${s.name.padEnd(9)}`;
        runs[l.name][s.role].push(await measureQuietly(ctx, s, l.seconds, l.connections, opts, label, log));
      }
    }
    await Promise.all(order.map((s) => stop(s.child)));
  }
  const interleaved = opts.interleaved > 0 ? await runInterleaved(ctx, opts, reps, socket, log) : undefined;
  await stopAll();

  const heavy = { bare: summarise(runs.heavy.bare), interface: summarise(runs.heavy.interface) };
  const light = runs.light
    ? { bare: summarise(runs.light.bare), interface: summarise(runs.light.interface) }
    : undefined;
  const hb = heavy.bare;
  const hi = heavy.interface;
  // Each round's interface run against the same round's bare run (see the top of the file).
  const ratioPerRound = runs.heavy.interface.map((r, i) => r.rps / runs.heavy.bare[i].rps);
  const addedCpuPerRound = runs.heavy.interface.map(
    (r, i) => r.cpuUsPerRequest - runs.heavy.bare[i].cpuUsPerRequest,
  );
  const ratio = orderBalanced(ratioPerRound).value;
  const throughputCost = 1 - ratio;
  const { value: addedCpuUs, orderEffect } = orderBalanced(addedCpuPerRound);
  // The same figures from the two servers' medians, as before the rounds were paired.
  const unpaired = {
    ratio: hi.rps / hb.rps,
    addedCpuUs: hi.cpuUsPerRequest - hb.cpuUsPerRequest,
  };
  const inter = interleaved && summariseInterleaved(interleaved, opts);
  const all = [hb, hi, ...(light ? [light.bare, light.interface] : []), ...(inter ? [inter] : [])];
  const errors = all.reduce((a, s) => a + s.non2xx3xx + s.socketErrors, 0);
  const otherLoad = Math.max(...all.map((s) => s.maxOtherLoad));
  const clientCoreBusy = Math.max(...all.map((s) => s.clientCoreBusy));
  // Shown met only when both measures say so (see the top of the file).
  const judgedCpuUs = inter ? Math.max(inter.addedCpuUs, addedCpuUs) : addedCpuUs;
  const iface = light ? [hi, light.interface] : [hi];
  const records = {
    served: iface.reduce((a, s) => a + s.served, 0),
    received: iface.reduce((a, s) => a + s.records, 0),
    droppedByServer: iface.reduce((a, s) => a + s.droppedByServer, 0),
    droppedReported: iface.reduce((a, s) => a + s.droppedReported, 0),
    invalid: iface.reduce((a, s) => a + s.invalid, 0),
    agentCaughtUp: iface.every((s) => s.agentCaughtUp),
  };
  records.complete = records.received + records.droppedByServer === records.served;
  const goals = {
    throughputCost: {
      value: throughputCost,
      max: MAX_THROUGHPUT_COST,
      pass: throughputCost < MAX_THROUGHPUT_COST,
    },
    addedCpuUs: {
      value: judgedCpuUs,
      rounds: addedCpuUs,
      interleaved: inter?.addedCpuUs,
      max: MAX_ADDED_CPU_US,
      pass: judgedCpuUs < MAX_ADDED_CPU_US,
    },
  };
  const pass = goals.throughputCost.pass && goals.addedCpuUs.pass;
  const summary = {
    ...versions,
    cores: ncores,
    cpu: cpus()[0]?.model ?? 'unknown',
    load: {
      threads: THREADS,
      connections: { heavy: HEAVY_CONNECTIONS, light: opts.light > 0 ? LIGHT_CONNECTIONS : undefined },
      duration: opts.duration,
      lightDuration: opts.light,
      warmup: opts.warmup,
      rounds: opts.rounds,
      path: PATH,
      headers: HEADERS,
      cores,
    },
    handler: { targetUs: opts.handlerUs, renders: reps, perRenderUs, pageBytes },
    clockTicksPerSecond: ticksPerSecond,
    control: opts.control,
    heavy: {
      ...heavy,
      ratio,
      throughputCost,
      addedCpuUs,
      orderEffectUs: orderEffect,
      ratioPerRound,
      addedCpuPerRound,
      unpaired,
    },
    light: light && {
      ...light,
      addedP50us: light.interface.p50us - light.bare.p50us,
      addedP99us: light.interface.p99us - light.bare.p99us,
    },
    interleaved: inter,
    records,
    goals,
    pass,
    errors,
    otherLoad,
    clientCoreBusy,
    quiet: otherLoad <= OTHER_LOAD_WARN,
  };

  if (opts.json) {
    console.log(JSON.stringify(summary, null, 2));
    return;
  }
  const cols = [
    ['', 22, (_, name) => name],
    ['req/s', 9, (s) => fmt(s.rps, 0)],
    ['p50 µs', 9, (s) => fmt(s.p50us, 0)],
    ['p99 µs', 9, (s) => fmt(s.p99us, 0)],
    ['CPU µs/req', 12, (s) => fmt(s.cpuUsPerRequest, 1)],
    ['agent µs/req', 14, (s) => fmt(s.agentCpuUsPerRequest, 1)],
    ['handler µs', 12, (s) => fmt(s.handlerUs, 1)],
    ['errors', 8, (s) => String(s.non2xx3xx + s.socketErrors)],
    ['other load', 12, (s) => `${(s.maxOtherLoad * 100).toFixed(0)}%`],
  ];
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(cols[0][1]) : c.padStart(cols[i][1]))).join('');
  console.log('');
  console.log(`node ${versions.node}, wrk ${versions.wrk}, ${ncores} cores (${summary.cpu})`);
  console.log(
    `medians of ${opts.rounds} run(s): ${opts.duration} s at -c${HEAVY_CONNECTIONS}` +
      (light ? `, ${opts.light} s at -c${LIGHT_CONNECTIONS}` : '') +
      '; other load: the worst run; errors: socket errors and non-2xx/3xx, all runs',
  );
  console.log(
    `server on core ${cores.server}; wrk on core ${cores.wrk}; agent on core ${cores.agent}` +
      (cores.agent === cores.wrk ? ' (with wrk)' : '') +
      `; core ${cores.wrk} busy at most ${(clientCoreBusy * 100).toFixed(0)}%`,
  );
  console.log(line(cols.map((c) => c[0])));
  console.log(line(cols.map((c) => c[2](hb, `bare, -c${HEAVY_CONNECTIONS}`))));
  console.log(line(cols.map((c) => c[2](hi, `${second}, -c${HEAVY_CONNECTIONS}`))));
  if (light) {
    console.log(line(cols.map((c) => c[2](light.bare, `bare, -c${LIGHT_CONNECTIONS}`))));
    console.log(line(cols.map((c) => c[2](light.interface, `${second}, -c${LIGHT_CONNECTIONS}`))));
  }
  console.log('');
  const rounds = (xs, digits) => xs.map((x) => fmt(x, digits)).join(', ');
  const roundsHalf = [quantile(addedCpuPerRound, 0.25), quantile(addedCpuPerRound, 0.75)];
  console.log(
    `throughput: ${second}/bare ${ratio.toFixed(3)}, cost ${pct(throughputCost)}, from the rounds' pairs, balanced for order` +
      ` (round by round: ${rounds(ratioPerRound, 3)}; from the servers' medians: ${unpaired.ratio.toFixed(3)})`,
  );
  console.log(
    `server CPU per request: ${fmt(hb.cpuUsPerRequest, 1)} → ${fmt(hi.cpuUsPerRequest, 1)} µs; ` +
      `added ${fmt(addedCpuUs, 2)} µs, from the rounds' pairs, balanced for order (round by round: ${rounds(addedCpuPerRound, 1)}` +
      `; middle half ${fmt(roundsHalf[0], 1)} to ${fmt(roundsHalf[1], 1)}` +
      `; from the servers' medians: ${fmt(unpaired.addedCpuUs, 1)})`,
  );
  if (Number.isFinite(orderEffect))
    console.log(
      `order effect: the server run second in a round used ${signed(orderEffect, 1)} µs more CPU a request, whichever it was (balanced out above)`,
    );
  if (inter) {
    console.log(
      `interleaved, one server ${opts.control ? 'bare both ways (control)' : 'with its interface off and on'} (${inter.pairs} pairs of ${inter.sliceSeconds} s): ` +
        `server CPU per request ${fmt(inter.bare.cpuUsPerRequest, 1)} → ${fmt(inter.interface.cpuUsPerRequest, 1)} µs; ` +
        `added ${fmt(inter.addedCpuUs, 2)} µs, the median of the pairs (middle half ${fmt(inter.middleHalf[0], 1)} to ${fmt(inter.middleHalf[1], 1)}); ` +
        `throughput cost ${pct(inter.throughputCost)}; records dropped: ${fmt(inter.dropped, 0)}`,
    );
  }
  console.log(
    `agent CPU per request (its own core, not in the server's figures): ${fmt(hi.agentCpuUsPerRequest, 1)} µs` +
      ` at -c${HEAVY_CONNECTIONS}` +
      (light ? `, ${fmt(light.interface.agentCpuUsPerRequest, 1)} µs at -c${LIGHT_CONNECTIONS}` : ''),
  );
  console.log(
    `added latency: p50 ${signed(hi.p50us - hb.p50us)} µs, p99 ${signed(hi.p99us - hb.p99us)} µs at -c${HEAVY_CONNECTIONS}` +
      ' (mostly queueing: it follows throughput)' +
      (light
        ? `; p50 ${signed(summary.light.addedP50us)} µs, p99 ${signed(summary.light.addedP99us)} µs at -c${LIGHT_CONNECTIONS} (one request at a time)`
        : ''),
  );
  if (!opts.control)
    console.log(
      `records (interface runs): ${fmt(records.received, 0)} received by the agent for ${fmt(records.served, 0)} requests served` +
        ` (${fmt(
          iface.reduce((a, s) => a + s.requests, 0),
          0,
        )} counted by wrk); dropped: ${fmt(records.droppedByServer, 0)}` +
        ` (${fmt(records.droppedReported, 0)} reported to the agent in overflow lines); refused by the agent: ${records.invalid}` +
        (records.complete ? '; every request accounted for' : '; SOME REQUESTS UNACCOUNTED FOR'),
    );
  if (!records.agentCaughtUp)
    console.log(`warning: the agent had not caught up ${DRAIN_TIMEOUT_MS / 1000} s after a run ended`);
  if (errors > 0)
    console.log(
      `warning: wrk saw ${errors} socket error(s) or non-2xx/3xx answer(s): the figures are suspect`,
    );
  if (clientCoreBusy > CLIENT_CORE_WARN)
    console.log(
      `warning: core ${cores.wrk} (wrk${cores.agent === cores.wrk ? ' and the agent' : ''}) was ` +
        `${(clientCoreBusy * 100).toFixed(0)}% busy: the client side may have limited the servers`,
    );
  if (!summary.quiet)
    console.log(
      `warning: other processes took up to ${(otherLoad * 100).toFixed(0)}% of the cores during a run: ` +
        'the figures are suspect; run again on a quiet machine',
    );
  if (opts.control) {
    console.log(
      "control run: both servers are bare, so the goals do not apply; the figures above are the method's error",
    );
    return;
  }
  console.log(
    `goal: throughput cost < ${pct(MAX_THROUGHPUT_COST)}: ${pct(throughputCost)}  ${goals.throughputCost.pass ? 'PASS' : 'FAIL'}`,
  );
  console.log(
    `goal: added server CPU < ${MAX_ADDED_CPU_US} µs/request: ${fmt(judgedCpuUs, 2)} µs` +
      (inter
        ? ` (the larger of: interleaved ${fmt(inter.addedCpuUs, 2)}, rounds ${fmt(addedCpuUs, 2)})`
        : ' (rounds)') +
      `  ${goals.addedCpuUs.pass ? 'PASS' : 'FAIL'}`,
  );
  console.log(`overall: ${pass ? 'PASS' : 'FAIL'}`);
}

/** The interleaved pairs' figures: medians, the added CPU of each pair, and the worst run's noise. */
function summariseInterleaved({ pairs, dropped }, opts) {
  const runs = pairs.flatMap((p) => [p.bare, p.interface]);
  const side = (role) => ({
    rps: median(pairs.map((p) => p[role].rps)),
    cpuUsPerRequest: median(pairs.map((p) => p[role].cpuUsPerRequest)),
  });
  const addedCpuPerPair = pairs.map((p) => p.interface.cpuUsPerRequest - p.bare.cpuUsPerRequest);
  return {
    pairs: pairs.length,
    sliceSeconds: opts.slice,
    bare: side('bare'),
    interface: side('interface'),
    addedCpuUs: median(addedCpuPerPair),
    middleHalf: [quantile(addedCpuPerPair, 0.25), quantile(addedCpuPerPair, 0.75)],
    addedCpuPerPair,
    throughputCost: 1 - median(pairs.map((p) => p.interface.rps / p.bare.rps)),
    dropped,
    non2xx3xx: runs.reduce((a, r) => a + r.non2xx3xx, 0),
    socketErrors: runs.reduce((a, r) => a + r.socketErrors, 0),
    maxOtherLoad: Math.max(...runs.map((r) => r.otherLoad)),
    clientCoreBusy: Math.max(...runs.map((r) => r.clientCoreBusy)),
  };
}

function pct(x) {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : '-';
}

function signed(n, digits = 0) {
  return Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${fmt(Math.abs(n), digits)}` : '-';
}

/**
 * A per-round figure balanced for order (see the top of the file): the mean of the median of
 * the odd rounds (bare first) and that of the even ones (interface first), and the order
 * effect, half their difference: how much more a figure reads when the interface runs second.
 * With one round, that round's figure and no effect.
 */
function orderBalanced(xs) {
  const bareFirst = median(xs.filter((_, i) => i % 2 === 0));
  const ifaceFirst = median(xs.filter((_, i) => i % 2 === 1));
  if (!Number.isFinite(ifaceFirst)) return { value: bareFirst, orderEffect: Number.NaN };
  return { value: (bareFirst + ifaceFirst) / 2, orderEffect: (bareFirst - ifaceFirst) / 2 };
}

try {
  await main();
} catch (e) {
  // After Ctrl-C, runs fail because their processes were stopped: nothing to report.
  if (!stoppedBySignal())
    console.error(`bench:overhead: ${e instanceof BenchError ? e.message : (e?.stack ?? e)}`);
  await stopAll();
  process.exitCode = 1;
}
