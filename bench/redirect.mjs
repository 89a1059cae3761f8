// Redirect throughput: the interceptor against the cheapest redirect Node can give.
//
// Two servers answer every request with a 302: bench/bare-302.mjs (a fixed Location, nothing
// else) and the interceptor (a site file with 10 servers of capacities 1..10 and one
// application over all of them, health checks off, so no server needs to exist). Each server
// runs alone on core 0 and wrk on core 1, with the same keep-alive load (-t1 -c32). After a
// short warm-up of each, measured runs alternate bare / interceptor, so drift on the machine
// hits both alike, and the median requests/s of each is kept. CPU time per request comes from
// /proc/<pid>/stat (utime + stime) read before and after each measured run. The CPU time that
// other processes took on the two cores during a run is reported too: on a shared machine it
// explains most of the spread between runs.
//
// Two interceptors run side by side: `interceptor` with no manager (every pick is the
// document's interval choice) and `interceptor-queue`, linked to a real manager that a
// stand-in agent (bench/figures-feeder.mjs, on wrk's core) feeds figures for every server
// every 25 ms, as in production, so every pick is the shipped queue choice (D28).
// `--against DIR` runs both again from another build's dist/ (the build before a change),
// in the same rounds, and reports each variant new over old, paired by round.
//
// The goal: the interceptor keeps at least 85% of the bare server's throughput.
//
// Usage: npm run bench:redirect                 (builds first)
//        node bench/redirect.mjs [--duration S] [--rounds N] [--retries N] [--quick] [--json]
//          --duration S  seconds per measured run (default 10)
//          --rounds N    measured runs of each server (default 3)
//          --retries N   times a run is repeated when other processes took more than 5% of
//                        the two cores during it (default 2); the least disturbed is kept
//          --quick       a smoke run: 2 s runs, 1 s warm-up
//          --json        print one JSON object instead of the table
//          --against DIR another build's dist/ folder: its interceptor runs both variants too
// Needs Linux (/proc), taskset (util-linux) and wrk; wrk is installed with apt-get when missing.
// Exit status: 0 when the benchmark ran (whether or not the goal is met), 1 when it could not.
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../dist/lab/free-ports.js';
import { siteKeys } from './common.mjs';
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
  runWrk,
  startNode,
  stopAll,
  stoppedBySignal,
  wrkVersion,
} from './wrk-common.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const GOAL = 0.85;
const THREADS = 1;
const CONNECTIONS = 32;
const SERVERS = 10;
const LOCATION = 'http://127.0.0.1:9101/';
/** Time limits, ms: every wait below is bounded by one of these. */
const PROBE_TIMEOUT_MS = 5_000;
const FED_TIMEOUT_MS = 20_000;
/** Share of the two cores other processes may take during a run before the figures are flagged. */
const OTHER_LOAD_WARN = 0.05;

// ---------------------------------------------------------------------------------------------
// Arguments

function usage() {
  return 'usage: node bench/redirect.mjs [--duration SECONDS] [--rounds N] [--retries N] [--quick] [--json] [--against DIST]';
}

function parseArgs(argv) {
  const opts = { duration: 10, warmup: 3, rounds: 3, retries: 2, json: false, against: undefined };
  let duration;
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (name) => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new BenchError(`${name} needs a value\n${usage()}`);
      return v;
    };
    if (a === '--json') opts.json = true;
    else if (a === '--quick') quick = true;
    else if (a === '--against' || a.startsWith('--against=')) {
      opts.against = resolve(value('--against'));
      if (!existsSync(join(opts.against, 'cli/main.js')))
        throw new BenchError(`--against: no cli/main.js in ${opts.against} (give a build's dist/ folder)`);
    } else if (a === '--duration' || a.startsWith('--duration=')) {
      duration = Number(value('--duration').replace(/s$/, ''));
      if (!Number.isInteger(duration) || duration < 1 || duration > 600)
        throw new BenchError('--duration: expected whole seconds from 1 to 600');
    } else if (a === '--rounds' || a.startsWith('--rounds=')) {
      opts.rounds = Number(value('--rounds'));
      if (!Number.isInteger(opts.rounds) || opts.rounds < 1 || opts.rounds > 50)
        throw new BenchError('--rounds: expected a whole number from 1 to 50');
    } else if (a === '--retries' || a.startsWith('--retries=')) {
      opts.retries = Number(value('--retries'));
      if (!Number.isInteger(opts.retries) || opts.retries < 0 || opts.retries > 10)
        throw new BenchError('--retries: expected a whole number from 0 to 10');
    } else if (a === '--help' || a === '-h') {
      console.log(usage());
      process.exit(0);
    } else throw new BenchError(`unknown argument "${a}"\n${usage()}`);
  }
  if (quick) {
    opts.duration = 2;
    opts.warmup = 1;
  }
  if (duration !== undefined) {
    opts.duration = duration;
    opts.warmup = Math.min(opts.warmup, duration);
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Tools

/** Starts `node ARGS` pinned to `core` and waits for the stdout line whose `portRe` gives its port. */
async function startServer(name, core, args, portRe, env) {
  const s = await startNode(name, core, args, portRe, ROOT, env);
  const port = Number(s.match[1]);
  return { ...s, port, url: `http://127.0.0.1:${port}/` };
}

/** One request: the server must answer 302 with a Location. */
function probe(server) {
  return new Promise((resolve, reject) => {
    const req = get(server.url, { agent: false, timeout: PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      const location = res.headers.location;
      if (res.statusCode === 302 && location) resolve(location);
      else reject(new BenchError(`${server.name}: expected a 302 with a Location, got ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new BenchError(`${server.name}: probe failed: ${e.message}`)));
  });
}

/**
 * Waits until an interceptor linked to the manager holds figures for every server (its
 * admin status shows the manager's word on each), bounded by FED_TIMEOUT_MS.
 */
async function untilFed(server) {
  const admin = Number(server.adminPort);
  const end = Date.now() + FED_TIMEOUT_MS;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${admin}/status`, {
        headers: { authorization: `Bearer ${server.token}` },
        signal: AbortSignal.timeout(2000),
      });
      const s = await res.json();
      if (s.servers?.length === SERVERS && s.servers.every((x) => x.manager?.queueLength !== undefined))
        return;
    } catch {}
    if (Date.now() > end)
      throw new BenchError(`${server.name}: no figures from the manager within ${FED_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring

/**
 * One measured run. Besides wrk's figures: the server's CPU time per request, and the CPU
 * time other processes took on the two cores meanwhile (`otherLoad`, a share of the run's
 * core time: about 0 on a quiet machine; anything more competed with the benchmark).
 */
async function measure(server, seconds, cores, ticksPerSecond, helpers = []) {
  if (!alive(server.child)) throw new BenchError(`${server.name} is no longer running`);
  const coreList = [...new Set(cores)];
  const before = cpuTicks(server.pid);
  const busyOn = () => {
    const busy = coresBusyTicks();
    return coreList.reduce((sum, c) => sum + (busy.get(c) ?? 0), 0);
  };
  const helperTicks = () => helpers.reduce((t, h) => t + (alive(h.child) ? cpuTicks(h.pid) : 0), 0);
  const helpersBefore = helperTicks();
  const busyBefore = busyOn();
  const startedAt = process.hrtime.bigint();
  const r = await runWrk({
    url: server.url,
    seconds,
    connections: CONNECTIONS,
    threads: THREADS,
    core: cores[1],
  });
  const elapsed = Number(process.hrtime.bigint() - startedAt) / 1e9;
  const busyAfter = busyOn();
  const helpersAfter = helperTicks();
  const after = cpuTicks(server.pid);
  if (!alive(server.child)) throw new BenchError(`${server.name} exited during the run`);
  const cpuSeconds = (after - before) / ticksPerSecond;
  // The benchmark's own other processes (the manager, the stand-in agent, the interceptors
  // not being measured, which take the manager's pushes) are counted apart from strangers'.
  const helpersUsed = helpersAfter - helpersBefore;
  const other = busyAfter - busyBefore - (after - before) - r.wrkTicks - helpersUsed;
  const { wrkTicks, ...wrk } = r;
  return {
    ...wrk,
    cpuSeconds,
    cpuUsPerRequest: r.requests > 0 ? (cpuSeconds * 1e6) / r.requests : Number.NaN,
    wrkCpuSeconds: wrkTicks / ticksPerSecond,
    otherLoad: Math.max(0, other / ticksPerSecond / (elapsed * coreList.length)),
    helperLoad: helpersUsed / ticksPerSecond / (elapsed * coreList.length),
  };
}

function summarise(runs) {
  return {
    rps: median(runs.map((r) => r.rps)),
    cpuUsPerRequest: median(runs.map((r) => r.cpuUsPerRequest)),
    p50us: median(runs.map((r) => r.p50us)),
    p99us: median(runs.map((r) => r.p99us)),
    non2xx3xx: runs.reduce((a, r) => a + r.non2xx3xx, 0),
    socketErrors: runs.reduce((a, r) => a + r.socketErrors, 0),
    maxOtherLoad: Math.max(...runs.map((r) => r.otherLoad)),
    runs,
  };
}

// ---------------------------------------------------------------------------------------------
// The site file

const serverNames = Array.from({ length: SERVERS }, (_, i) => `s${i + 1}`);

/** The site: `managerPort` adds a manager and the stand-in agent `bench` for every server. */
function siteFile(managerPort) {
  const servers = Array.from({ length: SERVERS }, (_, i) =>
    [`  - name: s${i + 1}`, `    url: http://127.0.0.1:${9101 + i}`, `    capacity: ${i + 1}`].join('\n'),
  );
  const manager = managerPort
    ? [
        'manager:',
        `  listen: 127.0.0.1:${managerPort}`,
        '  dataDir: ./manager-data',
        'agents:',
        `  - { name: bench, socket: ./bench.sock, servers: [${serverNames.join(', ')}] }`,
      ]
    : [];
  return [
    '# Written by bench/redirect.mjs: nothing listens on the servers, checks are off.',
    'interceptor:',
    '  listen: 127.0.0.1:0',
    '  admin: 127.0.0.1:0',
    '  healthCheck: { enabled: false }',
    ...manager,
    'servers:',
    ...servers,
    'applications:',
    '  - name: bench',
    '    match: { pathPrefix: / }',
    `    servers: [${serverNames.join(', ')}]`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const log = opts.json ? (m) => console.error(m) : (m) => console.log(m);
  ensureTools(log, ROOT, ['dist/cli/main.js'], 'bench:redirect');

  const cores = availableParallelism();
  const serverCore = 0;
  const wrkCore = cores >= 2 ? 1 : 0;
  if (cores < 2) log('warning: one core only: wrk and the server share it, figures are not comparable');
  const ticksPerSecond = clockTicks();
  const versions = { node: process.version, wrk: wrkVersion() };

  const tmp = makeTempDir();
  const config = join(tmp, 'site.yaml');
  writeFileSync(config, siteFile());
  const [managerPort] = await freePorts(1);
  const queueConfig = join(tmp, 'site-queue.yaml');
  writeFileSync(queueConfig, siteFile(managerPort));
  const secret = randomBytes(24).toString('hex');
  const token = randomBytes(18).toString('base64url');
  const env = { SWITCHYARD_TOKEN: token, ...siteKeys(secret), SWITCHYARD_LOG_LEVEL: 'warn' };

  const bare = await startServer(
    'bare',
    serverCore,
    [join(ROOT, 'bench/bare-302.mjs'), LOCATION],
    /bare-302 listening on (\d+)/,
    {},
  );
  // The manager and the stand-in agent run on wrk's core: they cost about 2 % of a core.
  const manager = await startNode(
    'manager',
    wrkCore,
    [join(ROOT, 'dist/cli/main.js'), 'manager', '--config', queueConfig],
    /manager listening on/,
    tmp,
    { ...env, SWITCHYARD_LOG_LEVEL: 'info' },
  );
  const feeder = await startNode(
    'feeder',
    wrkCore,
    [
      join(ROOT, 'bench/figures-feeder.mjs'),
      ...['--manager', `ws://127.0.0.1:${managerPort}/link`, '--servers', serverNames.join(',')],
    ],
    /feeder linked/,
    ROOT,
    env,
  );
  const builds = [{ label: '', dist: join(ROOT, 'dist') }];
  if (opts.against) builds.push({ label: ' (old)', dist: opts.against });
  const servers = [bare];
  for (const b of builds) {
    for (const [variant, file] of [
      ['', config],
      ['-queue', queueConfig],
    ]) {
      const name = `interceptor${variant}${b.label}`;
      const s = await startServer(
        name,
        serverCore,
        [join(b.dist, 'cli/main.js'), 'interceptor', '--config', file, '--name', name.replace(/[^\w-]/g, '')],
        /interceptor listening on http:\/\/127\.0\.0\.1:(\d+); admin on http:\/\/127\.0\.0\.1:(\d+)/,
        { ...env, SWITCHYARD_LOG_LEVEL: 'info' },
      );
      s.adminPort = Number(s.match[2]);
      s.token = token;
      s.variant = variant === '' ? 'interval' : 'queue';
      s.build = b.label === '' ? 'new' : 'old';
      servers.push(s);
    }
  }
  for (const s of servers) s.location = await probe(s);
  // The queue variants decide with the queue choice only once figures for every server have
  // reached them: wait for that (their redirects then follow the figures, not capacities).
  for (const s of servers.filter((x) => x.variant === 'queue')) await untilFed(s);

  const total = opts.warmup * 2 + opts.duration * 2 * opts.rounds;
  log(
    `redirect throughput: wrk -t${THREADS} -c${CONNECTIONS} -d${opts.duration}s (keep-alive), ` +
      `${opts.rounds} round(s) after a ${opts.warmup} s warm-up, about ${total} s; ` +
      `servers on core ${serverCore}, wrk on core ${wrkCore}`,
  );
  for (const s of servers)
    await runWrk({
      url: s.url,
      seconds: opts.warmup,
      connections: CONNECTIONS,
      threads: THREADS,
      core: wrkCore,
    });

  const runs = Object.fromEntries(servers.map((s) => [s.name, []]));
  for (let round = 1; round <= opts.rounds; round++) {
    // Each round starts one server later, so no server always runs first or right after
    // another (a server's place in the round showed in its figures).
    const order = servers.map((_, i) => servers[(i + round - 1) % servers.length]);
    for (const s of order) {
      // A run other processes competed with is run again (a bounded number of times); the
      // least disturbed attempt is kept.
      let kept;
      for (let attempt = 0; attempt <= opts.retries; attempt++) {
        const helpers = [manager, feeder, ...servers.filter((x) => x !== s)];
        const r = await measure(s, opts.duration, [serverCore, wrkCore], ticksPerSecond, helpers);
        if (!kept || r.otherLoad < kept.otherLoad) kept = r;
        const noisy = r.otherLoad > OTHER_LOAD_WARN;
        log(
          `  round ${round} ${s.name.padEnd(26)} ${fmt(r.rps, 0).padStart(8)} req/s` +
            `  ${r.cpuUsPerRequest.toFixed(1).padStart(5)} µs CPU/req` +
            `  other load ${(r.otherLoad * 100).toFixed(0).padStart(2)}%` +
            `  (the bench's own ${(r.helperLoad * 100).toFixed(0)}%)` +
            (noisy ? (attempt < opts.retries ? '  (busy machine: again)' : '  (busy machine)') : ''),
        );
        if (!noisy) break;
      }
      runs[s.name].push(kept);
    }
  }
  await stopAll();

  const b = summarise(runs.bare);
  const all = Object.fromEntries(servers.map((s) => [s.name, summarise(runs[s.name])]));
  const ic = all.interceptor;
  const ratio = ic.rps / b.rps;
  const cpuRatio = b.cpuUsPerRequest / ic.cpuUsPerRequest;
  const errors = Object.values(all).reduce((t, x) => t + x.non2xx3xx + x.socketErrors, 0);
  const otherLoad = Math.max(...Object.values(all).map((x) => x.maxOtherLoad));
  // Each interceptor over bare, and each variant new over old, as the median of the rounds'
  // ratios (paired by round, so drift between rounds cancels).
  const paired = (x, y) => median(runs[x].map((r, i) => r.rps / runs[y][i].rps));
  const ratios = Object.fromEntries(servers.slice(1).map((s) => [s.name, paired(s.name, 'bare')]));
  const newOverOld = opts.against
    ? {
        interval: paired('interceptor', 'interceptor (old)'),
        queue: paired('interceptor-queue', 'interceptor-queue (old)'),
      }
    : undefined;
  const summary = {
    ...versions,
    cores,
    cpu: cpus()[0]?.model ?? 'unknown',
    load: {
      threads: THREADS,
      connections: CONNECTIONS,
      duration: opts.duration,
      warmup: opts.warmup,
      rounds: opts.rounds,
      serverCore,
      wrkCore,
    },
    clockTicksPerSecond: ticksPerSecond,
    locations: Object.fromEntries(servers.map((s) => [s.name, s.location])),
    bare: b,
    interceptor: ic,
    variants: all,
    ratios,
    ...(newOverOld ? { newOverOld } : {}),
    ratio,
    cpuRatio,
    goal: GOAL,
    pass: ratio >= GOAL,
    errors,
    otherLoad,
    quiet: otherLoad <= OTHER_LOAD_WARN,
  };

  if (opts.json) {
    console.log(JSON.stringify(summary, null, 2));
    return;
  }
  const cols = [
    ['', 28, (_, name) => name],
    ['req/s', 9, (s) => fmt(s.rps, 0)],
    ['CPU µs/req', 12, (s) => fmt(s.cpuUsPerRequest, 1)],
    ['p50 µs', 9, (s) => fmt(s.p50us, 0)],
    ['p99 µs', 9, (s) => fmt(s.p99us, 0)],
    ['non-2xx/3xx', 13, (s) => String(s.non2xx3xx)],
    ['socket errors', 15, (s) => String(s.socketErrors)],
    ['other load', 12, (s) => `${(s.maxOtherLoad * 100).toFixed(0)}%`],
  ];
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(cols[0][1]) : c.padStart(cols[i][1]))).join('');
  console.log('');
  console.log(`node ${versions.node}, wrk ${versions.wrk}, ${cores} cores (${summary.cpu})`);
  console.log(`medians of ${opts.rounds} run(s) of ${opts.duration} s; other load: the worst run`);
  console.log(line(cols.map((c) => c[0])));
  console.log(line(cols.map((c) => c[2](b, 'bare Node 302'))));
  for (const s of servers.slice(1)) console.log(line(cols.map((c) => c[2](all[s.name], s.name))));
  console.log(`ratio interceptor/bare: ${ratio.toFixed(3)} (from CPU per request: ${cpuRatio.toFixed(3)})`);
  for (const [name, r] of Object.entries(ratios))
    console.log(`  ${name.padEnd(26)} over bare, paired by round: ${r.toFixed(3)}`);
  if (newOverOld)
    console.log(
      `new over old build, paired by round: interval ${newOverOld.interval.toFixed(3)}, queue ${newOverOld.queue.toFixed(3)}`,
    );
  if (errors > 0)
    console.log(
      `warning: wrk saw ${errors} socket error(s) or non-2xx/3xx answer(s): the figures are suspect`,
    );
  if (!summary.quiet)
    console.log(
      `warning: other processes took up to ${(otherLoad * 100).toFixed(0)}% of the two cores during a run: ` +
        'the figures are suspect; run again on a quiet machine',
    );
  console.log(`goal: ratio >= ${GOAL}  ${summary.pass ? 'PASS' : 'BELOW'}`);
}

try {
  await main();
} catch (e) {
  // After Ctrl-C, runs fail because their processes were stopped: nothing to report.
  if (!stoppedBySignal())
    console.error(`bench:redirect: ${e instanceof BenchError ? e.message : (e?.stack ?? e)}`);
  await stopAll();
  process.exitCode = 1;
}
