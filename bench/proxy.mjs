// The gateway against HAProxy, NGINX and two Node proxies (issue 30, "Speed").
//
// Five reverse proxies carry the same load to the same two backends (bench/proxy-backend.mjs,
// plain node:http servers answering a small fixed body, keep-alive):
//   gateway     the interceptor (`switchyard interceptor --config FILE`) with one application
//               in `mode: proxy` over the two servers, health checks off, no manager (the
//               gateway's defaults: least-request, 32 keep-alive connections a server);
//   undici      a bare undici Pool.stream proxy (bench/proxy-undici.mjs), two Pools, the one
//               with fewer requests in flight: the floor for a Node proxy on the same library;
//   http-proxy  node-http-proxy 1.18.1 (bench/proxy-http-proxy.mjs), round robin, keep-alive;
//   haproxy     HAProxy (Debian's package), one thread, balance leastconn, http-reuse always,
//               keep-alive both ways, option forwardfor;
//   nginx       NGINX (Debian's package), one worker, least_conn, upstream keepalive 32,
//               proxy_http_version 1.1, Connection "", X-Forwarded-For.
// HAProxy and NGINX run in the foreground as the current user, on 127.0.0.1 high ports, with
// every file they write (config, pid, error log, temp) in a temporary directory. When one is
// not installed it is skipped, and the output says how to install it.
//
// Each proxy runs alone on core 0 (taskset); wrk and the two backends share core 1. Loads:
//   closed loop   wrk -t1 -c50 --latency, keep-alive: requests/s, p50/p99 latency, and CPU
//                 time per request (utime + stime of the proxy's processes, all threads, from
//                 /proc/PID/stat over the run, over the requests wrk counted);
//   fixed rate    the same offered load for every proxy (--rate; by default 2,500 requests/s,
//                 where every proxy here has at least half its core to spare, and 5,000, where
//                 the Node proxies come near their limit): p50/p99 and CPU per request.
//                 wrk 4.1 has no rate option (wrk2 is not installed), so a Lua script paces
//                 wrk's requests on a schedule (LuaJIT's FFI reads the monotonic clock; wrk's
//                 timers are whole milliseconds, so requests go in small bursts each ms) over
//                 128 keep-alive connections, more than are ever busy at once; wrk measures
//                 latency from each request's actual send, and the script counts requests sent
//                 more than 1 ms behind schedule (coordinated omission would hide in those; 0
//                 when the proxy keeps up).
// After a warm-up of each proxy (thrown away), measured runs go in rounds: each round runs
// every proxy once in the closed loop, then once at each fixed rate, one proxy later each
// round, so drift on the machine hits all alike; medians and the spread over rounds are shown.
// Each measured run comes right after 2 s of the same load (--prewarm), thrown away: a Node
// proxy idle for a minute or two (while the others ran) has shrunk its heap and needs a few
// seconds to get back to its steady cost, and its first second shows as a tail of hundreds
// of ms.
// Each run says which core was the limit: the proxy's (busy >= 95 %), the load's (wrk and the
// backends), or neither. A run during which other processes took more than 5 % of the two
// cores is repeated (--retries) and the least disturbed attempt kept.
//
// Goals (issue 30): the gateway's requests/s at least 0.9 of the bare undici proxy's (closed
// loop); its p99 at the same offered load within 2x HAProxy's (judged at each fixed rate);
// stretch: its CPU per request within 2x HAProxy's (closed loop; the fixed rates' beside).
// Each is judged on the median of the rounds' ratios (both proxies of a ratio measured in the
// same round), the ratio of the medians beside it.
//
// Usage: npm run bench:proxy                 (builds first)
//        node bench/proxy.mjs [--quick] [--rounds N] [--duration S] [--rate-duration S]
//                             [--rate R] [--warmup S] [--prewarm S] [--retries N] [--wait-quiet S]
//                             [--only a,b] [--dist DIR] [--against DIR]
//                             [--json] [--cpu-prof DIR]
//          --quick          a smoke run: one round of 1 s runs, every proxy that is installed
//                           (about 30 s in all)
//          --rounds N       rounds (default 3)
//          --duration S     seconds of each closed-loop run (default 10)
//          --rate-duration S  seconds of each fixed-rate run (default 10; 0 skips them)
//          --rate R[,R2]    the fixed offered loads, requests/s (default 2500,5000)
//          --prewarm S      before each measured run, the same load for S s, thrown away
//                           (default 2; 0 measures each proxy right after it sat idle while
//                           the others ran, a minute or two)
//          --retries N      runs again when other processes took over 5 % of the cores (default 1)
//          --wait-quiet S   before each run, wait up to S s for a quiet second (default 20)
//          --only LIST      only these proxies (gateway,undici,http-proxy,haproxy,nginx)
//          --dist DIR       the gateway from another build's dist/ folder
//          --against DIR    a second gateway, from another build's dist/, in the same rounds
//          --against-flags "F"  Node flags for that second gateway only (e.g. --max-semi-space-size=64)
//                           (a change's worth, paired by round, is printed)
//          --json           one JSON object instead of the tables
//          --pictures DIR   where the pictures go (bench/proxy-charts.mjs; default
//                           bench/results/proxy; none with --quick unless given)
//          --cpu-prof DIR   instead: the gateway (or the one Node proxy --only names) alone
//                           under the closed-loop load with `node --cpu-prof`, its profile
//                           written to DIR and the measured run's samples summarised
// Needs Linux (/proc), taskset and wrk. Exit status 0 when the benchmark ran (goals met or
// not), 1 when it could not.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../dist/lab/free-ports.js';
import { siteKeys } from './common.mjs';
import { writeProxyCharts } from './proxy-charts.mjs';
import { formatProfile, summariseProfile } from './proxy-profile.mjs';
import {
  alive,
  BenchError,
  clockTicks,
  coresBusyTicks,
  ensureTools,
  fmt,
  has,
  makeTempDir,
  median,
  parseStat,
  runWrk as runWrkOnce,
  signal,
  startNode,
  stop,
  stopAll,
  stoppedBySignal,
  track,
  waitExit,
  wrkVersion,
} from './wrk-common.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PROXIES = ['gateway', 'undici', 'http-proxy', 'haproxy', 'nginx'];
const PROXY_CORE = 0;
const LOAD_CORE = 1;
const CONNECTIONS = 50;
const RATE_CONNECTIONS = 128;
/** A core this busy over a run is the limit. */
const SATURATED = 0.95;
/** Share of the two cores other processes may take during a run before it is repeated. */
const OTHER_LOAD_WARN = 0.05;
/** Goals (issue 30). */
const GOAL_RPS = 0.9;
const GOAL_P99 = 2;
const GOAL_CPU = 2;
/** Time limits, ms: every wait below is bounded by one of these. */
const PROBE_TIMEOUT_MS = 3_000;
const READY_TIMEOUT_MS = 10_000;
const PROFILE_WRITE_MS = 15_000;

// ---------------------------------------------------------------------------------------------
// Arguments

function usage() {
  return (
    'usage: node bench/proxy.mjs [--quick] [--rounds N] [--duration S] [--rate-duration S] [--rate R]\n' +
    '                            [--warmup S] [--prewarm S] [--retries N] [--wait-quiet S] [--only a,b] [--dist DIR] [--against DIR] [--against-flags F] [--json] [--pictures DIR] [--cpu-prof DIR]'
  );
}

function parseArgs(argv) {
  const o = {
    rounds: 3,
    duration: 10,
    rateDuration: 10,
    warmup: 3,
    prewarm: 2,
    rates: [2500, 5000],
    retries: 1,
    waitQuiet: 20,
    only: PROXIES,
    dist: join(ROOT, 'dist'),
    json: false,
    pictures: undefined,
    cpuProf: undefined,
    quick: false,
  };
  const set = {};
  const int = (name, v, lo, hi) => {
    const n = Number(String(v).replace(/s$/, ''));
    if (!Number.isInteger(n) || n < lo || n > hi)
      throw new BenchError(`${name}: expected a whole number from ${lo} to ${hi}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=')
      ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
      : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new BenchError(`${flag} needs a value\n${usage()}`);
      return v;
    };
    if (flag === '--quick') o.quick = true;
    else if (flag === '--json') o.json = true;
    else if (flag === '--rounds') set.rounds = int(flag, value(), 1, 20);
    else if (flag === '--duration') set.duration = int(flag, value(), 1, 300);
    else if (flag === '--rate-duration') set.rateDuration = int(flag, value(), 0, 300);
    else if (flag === '--warmup') set.warmup = int(flag, value(), 0, 60);
    else if (flag === '--prewarm') set.prewarm = int(flag, value(), 0, 60);
    else if (flag === '--retries') set.retries = int(flag, value(), 0, 5);
    else if (flag === '--wait-quiet') set.waitQuiet = int(flag, value(), 0, 600);
    else if (flag === '--rate')
      set.rates = value()
        .split(',')
        .map((v) => int(flag, v, 10, 200_000));
    else if (flag === '--only') {
      const list = value().split(',').filter(Boolean);
      for (const p of list)
        if (!PROXIES.includes(p))
          throw new BenchError(`--only: unknown proxy "${p}" (${PROXIES.join(', ')})`);
      o.only = PROXIES.filter((p) => list.includes(p));
    } else if (flag === '--dist') {
      o.dist = resolve(value());
      if (!existsSync(join(o.dist, 'cli/main.js')))
        throw new BenchError(`--dist: no cli/main.js in ${o.dist} (give a build's dist/ folder)`);
    } else if (flag === '--against') {
      o.against = resolve(value());
      if (!existsSync(join(o.against, 'cli/main.js')))
        throw new BenchError(`--against: no cli/main.js in ${o.against} (give a build's dist/ folder)`);
    } else if (flag === '--against-flags') {
      // Node flags for the --against gateway only (e.g. a GC setting tried on the same build).
      o.againstFlags = value().split(' ').filter(Boolean);
      for (const f of o.againstFlags)
        if (!/^--[a-z0-9-]+(=[\w.,-]+)?$/.test(f))
          throw new BenchError(`--against-flags: not a Node flag: ${f}`);
    } else if (flag === '--pictures') o.pictures = resolve(value());
    else if (flag === '--cpu-prof') o.cpuProf = resolve(value());
    else if (flag === '--help' || flag === '-h') {
      console.log(usage());
      process.exit(0);
    } else throw new BenchError(`unknown argument "${a}"\n${usage()}`);
  }
  if (o.quick)
    Object.assign(o, {
      rounds: 1,
      duration: 1,
      rateDuration: 1,
      warmup: 1,
      prewarm: 0,
      retries: 0,
      waitQuiet: 0,
    });
  return Object.assign(o, set);
}

// ---------------------------------------------------------------------------------------------
// Processes and /proc

/** Every process's parent and CPU ticks (utime + stime, all threads), from one pass over /proc. */
function procTable() {
  const table = new Map();
  for (const d of readdirSync('/proc')) {
    if (d.charCodeAt(0) > 57) continue; // not a pid
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      table.set(Number(d), { ppid, ticks: parseStat(s) });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** CPU ticks of a process and every process under it (NGINX's master and worker). */
function treeTicks(table, root) {
  if (!table.has(root)) throw new BenchError(`process ${root} is gone`);
  let total = 0;
  const stack = [root];
  for (let n = 0; stack.length > 0 && n < 1000; n++) {
    const pid = stack.pop();
    total += table.get(pid)?.ticks ?? 0;
    for (const [child, e] of table) if (e.ppid === pid) stack.push(child);
  }
  return total;
}

/**
 * The state of the machine at one moment: the time, each core's busy ticks, every process's
 * ticks, and this process's own (as ticks), read together.
 */
function snapshot(tck) {
  const t = process.hrtime.bigint();
  const busy = coresBusyTicks();
  const table = procTable();
  const u = process.cpuUsage();
  return { t, busy, table, self: ((u.user + u.system) / 1e6) * tck };
}

/** The binary's path: on the PATH, or where Debian puts daemons (/usr/sbin is not on every PATH). */
function findBinary(name) {
  if (has(name)) return name;
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/sbin'])
    if (existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

function versionOf(cmd, args, re) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  const m = re.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`);
  return m ? m[1] : 'unknown';
}

/** One GET through a proxy: 200 with a backend's body. */
function probe(url) {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: PROBE_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => {
        if (res.statusCode === 200 && body.startsWith('hello from ')) resolve(body.trim());
        else
          reject(
            new BenchError(`expected 200 "hello from ...", got ${res.statusCode} ${body.slice(0, 100)}`),
          );
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/**
 * Starts a non-Node proxy pinned to `core` in its own process group (so NGINX's worker is
 * stopped with its master) and waits until a request through it comes back.
 */
async function startExternal(name, core, cmd, args, url) {
  const child = spawn('taskset', ['-c', String(core), cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.group = true;
  track(child);
  let out = '';
  const keep = (d) => {
    out = (out + d).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const end = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!alive(child))
      throw new BenchError(`${name} exited at start:\n  ${out.trim().split('\n').slice(-5).join('\n  ')}`);
    try {
      await probe(url);
      return { name, child, pid: child.pid, url };
    } catch (e) {
      if (Date.now() > end) {
        await stop(child);
        throw new BenchError(
          `${name}: no answer within ${READY_TIMEOUT_MS} ms (${e.message})\n  ${out.trim()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Config files

function gatewaySite(backends) {
  return [
    '# Written by bench/proxy.mjs: one application in proxy mode over the two backends.',
    'interceptor:',
    '  listen: 127.0.0.1:0',
    '  admin: 127.0.0.1:0',
    '  healthCheck: { enabled: false }',
    'servers:',
    ...backends.map((b) => `  - { name: ${b.name}, url: http://127.0.0.1:${b.port} }`),
    'applications:',
    '  - name: bench',
    '    match: { pathPrefix: / }',
    `    servers: [${backends.map((b) => b.name).join(', ')}]`,
    '    mode: proxy',
    '',
  ].join('\n');
}

function haproxyConfig(port, backends) {
  return `# Written by bench/proxy.mjs
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 120s
frontend door
  bind 127.0.0.1:${port}
  default_backend servers
backend servers
  balance leastconn
${backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port}`).join('\n')}
`;
}

function nginxConfig(dir, port, backends) {
  // As root, NGINX would hand its worker to "nobody", who cannot enter the temporary
  // directory; the worker stays the current user instead.
  const user = process.getuid?.() === 0 ? 'user root root;\n' : '';
  return `# Written by bench/proxy.mjs; run with -p DIR -c FILE -g 'daemon off;'
${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  upstream servers {
    least_conn;
${backends.map((b) => `    server 127.0.0.1:${b.port};`).join('\n')}
    keepalive 32;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://servers;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`;
}

/** wrk's Lua: percentiles at the end, and with `rate`, requests paced to that many a second. */
function wrkScript(rate) {
  const report = `
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  io.write(string.format("latency_us p50=%d p90=%d p99=%d p999=%d max=%d\\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
  local sent, late = 0, 0
  for _, t in ipairs(threads) do
    sent = sent + (t:get("sent") or 0)
    late = late + (t:get("late") or 0)
  end
  io.write(string.format("schedule sent=%d late=%d\\n", sent, late))
end
`;
  if (!rate) return `-- Written by bench/proxy.mjs: percentiles only.\n${report}`;
  return `-- Written by bench/proxy.mjs: ${rate} requests a second on a schedule, whatever the answers.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } switchyard_timespec;
int clock_gettime(int clock, switchyard_timespec *ts);
]]
local ts = ffi.new("switchyard_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval = ${1000 / rate}
local next_at = nil
sent = 0
late = 0
-- Called before every request: how many ms to wait before sending it. wrk's timers are
-- whole ms, so a request is sent at its slot rounded to the nearest ms; one more than a
-- ms behind its slot is late (no connection was free, or wrk itself was behind).
function delay()
  local t = now_ms()
  if next_at == nil then next_at = t end
  local d = next_at - t
  next_at = next_at + interval
  sent = sent + 1
  if d < -1 then late = late + 1 end
  if d <= 0 then return 0 end
  return math.floor(d + 0.5)
end
${report}`;
}

// ---------------------------------------------------------------------------------------------
// wrk

/**
 * wrk (bench/wrk-common.mjs) with one thread and this benchmark's Lua script, whose own lines
 * give the latency percentiles in µs and, at a fixed rate, how many sends were late.
 */
async function runWrk({ url, seconds, connections, core, script }) {
  const r = await runWrkOnce({ url, seconds, connections, threads: 1, core, script });
  const lat = /latency_us p50=(\d+) p90=(\d+) p99=(\d+) p999=(\d+) max=(\d+)/.exec(r.out);
  if (!lat) throw new BenchError(`wrk printed no latency line:\n${r.out.trim()}`);
  const sched = /schedule sent=(\d+) late=(\d+)/.exec(r.out);
  const [p50us, p90us, p99us, p999us, maxUs] = lat.slice(1).map(Number);
  return { ...r, p50us, p90us, p99us, p999us, maxUs, late: sched ? Number(sched[2]) : 0 };
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** wrk's arguments for one run of `load` against `proxy`. */
function wrkArgs(proxy, load, scripts) {
  return {
    url: proxy.url,
    seconds: load.seconds,
    connections: load.kind === 'rate' ? RATE_CONNECTIONS : CONNECTIONS,
    core: LOAD_CORE,
    script: load.kind === 'rate' ? scripts[load.rate] : scripts.closed,
  };
}

/**
 * One measured run of `proxy` under `load` ({ kind: 'closed' | 'rate', seconds }): wrk's
 * figures; the proxy's CPU per request; how busy each core was; the backends' requests and new
 * connections; and `otherLoad`, the share of the two cores that processes not of this
 * benchmark took (about 0 on a quiet machine).
 */
async function measure(proxy, load, ctx) {
  const { backends, procs, tck, scripts } = ctx;
  if (!alive(proxy.child)) throw new BenchError(`${proxy.name} is no longer running`);
  const statsBefore = await Promise.all(backends.map((b) => b.stats()));
  const ours = (snap) =>
    procs.reduce((t, p) => t + (snap.table.has(p.pid) ? treeTicks(snap.table, p.pid) : 0), snap.self);
  const s0 = snapshot(tck);
  const r = await runWrk(wrkArgs(proxy, load, scripts));
  const s1 = snapshot(tck);
  const elapsed = Number(s1.t - s0.t) / 1e9;
  if (!alive(proxy.child)) throw new BenchError(`${proxy.name} exited during the run`);
  const statsAfter = await Promise.all(backends.map((b) => b.stats()));
  const own0 = treeTicks(s0.table, proxy.pid);
  const own1 = treeTicks(s1.table, proxy.pid);
  const busy0 = s0.busy;
  const busy1 = s1.busy;
  const ours0 = ours(s0);
  const ours1 = ours(s1);
  const busy = (c) => ((busy1.get(c) ?? 0) - (busy0.get(c) ?? 0)) / tck / elapsed;
  const cpuSeconds = (own1 - own0) / tck;
  const proxyCore = busy(PROXY_CORE);
  const loadCore = busy(LOAD_CORE);
  const other = busy(PROXY_CORE) + busy(LOAD_CORE) - (ours1 - ours0 + r.wrkTicks) / tck / elapsed;
  const served = statsAfter.map((s, i) => s.requests - statsBefore[i].requests);
  const newConnections = statsAfter.reduce((t, s, i) => t + s.connections - statsBefore[i].connections, 0);
  const limit =
    load.kind === 'rate'
      ? r.rps < load.rate * 0.97
        ? 'rate not kept'
        : 'offered load'
      : proxyCore >= SATURATED
        ? cpuSeconds / elapsed < 0.85
          ? 'proxy core, shared'
          : 'proxy core'
        : loadCore >= SATURATED
          ? 'load core'
          : 'neither core';
  const { wrkTicks, ...wrk } = r;
  return {
    ...wrk,
    seconds: elapsed,
    // The run's window on the monotonic clock, µs (as V8 stamps a profile's samples).
    window: [Number(s0.t / 1000n), Number(s1.t / 1000n)],
    cpuSeconds,
    cpuUsPerRequest: r.requests > 0 ? (cpuSeconds * 1e6) / r.requests : Number.NaN,
    proxyCpu: cpuSeconds / elapsed,
    proxyCore,
    loadCore,
    limit,
    served,
    newConnections,
    otherLoad: Math.max(0, other / 2),
  };
}

/**
 * Waits, up to `seconds`, for a second in which processes not of this benchmark took at most
 * OTHER_LOAD_WARN of the two cores (tests or builds on a shared machine); gives the seconds waited.
 */
async function waitQuiet(ctx, seconds) {
  const { procs, tck } = ctx;
  const ours = (snap) =>
    procs.reduce((t, p) => t + (snap.table.has(p.pid) ? treeTicks(snap.table, p.pid) : 0), snap.self);
  for (let waited = 0; waited < seconds; waited++) {
    const s0 = snapshot(tck);
    await new Promise((r) => setTimeout(r, 1000));
    const s1 = snapshot(tck);
    const elapsed = Number(s1.t - s0.t) / 1e9;
    const busy = [PROXY_CORE, LOAD_CORE].reduce(
      (t, c) => t + (s1.busy.get(c) ?? 0) - (s0.busy.get(c) ?? 0),
      0,
    );
    if ((busy - (ours(s1) - ours(s0))) / tck / elapsed / 2 <= OTHER_LOAD_WARN) return waited;
  }
  return seconds;
}

const pct = (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(0)}%` : '-');

function spread(xs) {
  const f = xs.filter(Number.isFinite);
  return f.length ? [Math.min(...f), Math.max(...f)] : [Number.NaN, Number.NaN];
}

function summarise(runs) {
  if (runs.length === 0) return undefined;
  const m = (k) => median(runs.map((r) => r[k]));
  const limits = runs.map((r) => r.limit);
  const limit = [...new Set(limits)].sort(
    (a, b) => limits.filter((x) => x === b).length - limits.filter((x) => x === a).length,
  )[0];
  const served = runs.reduce(
    (t, r) => t.map((x, i) => x + r.served[i]),
    runs[0].served.map(() => 0),
  );
  return {
    rps: m('rps'),
    rpsRange: spread(runs.map((r) => r.rps)),
    p50us: m('p50us'),
    p99us: m('p99us'),
    p99Range: spread(runs.map((r) => r.p99us)),
    p999us: m('p999us'),
    cpuUsPerRequest: m('cpuUsPerRequest'),
    cpuRange: spread(runs.map((r) => r.cpuUsPerRequest)),
    proxyCpu: m('proxyCpu'),
    proxyCore: m('proxyCore'),
    loadCore: m('loadCore'),
    limit,
    limits,
    late: runs.reduce((t, r) => t + r.late, 0),
    requests: runs.reduce((t, r) => t + r.requests, 0),
    errors: runs.reduce((t, r) => t + r.socketErrors + r.non2xx3xx, 0),
    served,
    newConnections: runs.reduce((t, r) => t + r.newConnections, 0),
    maxOtherLoad: Math.max(...runs.map((r) => r.otherLoad)),
    runs,
  };
}

// ---------------------------------------------------------------------------------------------

async function startBackends(tmp) {
  const backends = [];
  for (const name of ['b1', 'b2']) {
    const b = await startNode(
      name,
      LOAD_CORE,
      [join(ROOT, 'bench/proxy-backend.mjs'), name],
      /proxy-backend \S+ listening on (\d+)/,
      tmp,
    );
    backends.push({ ...b, port: Number(b.match[1]) });
  }
  return backends;
}

async function startGateway(tmp, dist, backends, nodeFlags = []) {
  const config = join(tmp, 'gateway.yaml');
  writeFileSync(config, gatewaySite(backends));
  const secret = randomBytes(24).toString('hex');
  const g = await startNode(
    'gateway',
    PROXY_CORE,
    [...nodeFlags, join(dist, 'cli/main.js'), 'interceptor', '--config', config],
    /interceptor listening on http:\/\/127\.0\.0\.1:(\d+)/,
    tmp,
    { ...siteKeys(secret), SWITCHYARD_LOG_LEVEL: 'info', SWITCHYARD_LOG_FORMAT: 'json' },
  );
  return { ...g, url: `http://127.0.0.1:${g.match[1]}/` };
}

async function startProxy(key, ctx) {
  const { tmp, backends, opts, bins, nodeFlags = [] } = ctx;
  const origins = backends.map((b) => `http://127.0.0.1:${b.port}`);
  if (key === 'gateway') return startGateway(tmp, opts.dist, backends, nodeFlags);
  if (key === 'against')
    return startGateway(tmp, opts.against, backends, [...nodeFlags, ...(opts.againstFlags ?? [])]);
  if (key === 'undici' || key === 'http-proxy') {
    const s = await startNode(
      key,
      PROXY_CORE,
      [...nodeFlags, join(ROOT, `bench/proxy-${key}.mjs`), ...origins],
      new RegExp(`proxy-${key} listening on (\\d+)`),
      ROOT,
    );
    return { ...s, url: `http://127.0.0.1:${s.match[1]}/` };
  }
  const [port] = await freePorts(1);
  const url = `http://127.0.0.1:${port}/`;
  if (key === 'haproxy') {
    const cfg = join(tmp, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(port, backends));
    return startExternal('haproxy', PROXY_CORE, bins.haproxy, ['-f', cfg, '-db'], url);
  }
  const conf = join(tmp, 'nginx.conf');
  writeFileSync(conf, nginxConfig(tmp, port, backends));
  return startExternal(
    'nginx',
    PROXY_CORE,
    bins.nginx,
    ['-p', tmp, '-c', conf, '-e', join(tmp, 'nginx-error.log'), '-g', 'daemon off;'],
    url,
  );
}

function machine() {
  const r = spawnSync('lscpu', [], { encoding: 'utf8', timeout: 5000 });
  const model = /^Model name:\s*(.+)$/m.exec(r.stdout ?? '')?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  return `${model}, ${availableParallelism()} vCPUs`;
}

/**
 * One Node proxy (the gateway unless --only names another) alone under the closed-loop load
 * with node --cpu-prof; prints where its time went during the measured run.
 */
async function profileProxy(opts, log, tmp, tck) {
  const key = opts.only.length === 1 ? opts.only[0] : 'gateway';
  if (!['gateway', 'undici', 'http-proxy'].includes(key))
    throw new BenchError('--cpu-prof profiles a Node proxy: --only gateway, undici or http-proxy');
  mkdirSync(opts.cpuProf, { recursive: true });
  const backends = await startBackends(tmp);
  const flags = ['--cpu-prof', '--cpu-prof-dir', opts.cpuProf];
  const g = await startProxy(key, { tmp, backends, opts, nodeFlags: flags });
  g.name = `${key} (profiled)`;
  await probe(g.url);
  const scripts = { closed: join(tmp, 'closed.lua') };
  writeFileSync(scripts.closed, wrkScript());
  log(`profiling ${key}: ${opts.warmup} s warm-up, then wrk -t1 -c${CONNECTIONS} -d${opts.duration}s`);
  const ctx = { backends, procs: [g, ...backends], tck, scripts, opts };
  if (opts.warmup > 0) await measure(g, { kind: 'closed', seconds: opts.warmup }, ctx);
  const started = Date.now();
  const r = await measure(g, { kind: 'closed', seconds: opts.duration }, ctx);
  log(
    `under the profiler: ${fmt(r.rps, 0)} req/s, ${fmt(r.cpuUsPerRequest, 1)} µs CPU/req, ` +
      `proxy core ${(r.proxyCore * 100).toFixed(0)}% busy, p99 ${fmt(r.p99us, 0)} µs, other load ${(r.otherLoad * 100).toFixed(0)}%`,
  );
  signal(g.child, 'SIGTERM');
  if (!(await waitExit(g.child, PROFILE_WRITE_MS)))
    throw new BenchError(`${key} did not exit to write its profile`);
  const files = readdirSync(opts.cpuProf)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(opts.cpuProf, f))
    .filter((f) => statSync(f).mtimeMs >= started);
  if (files.length === 0) throw new BenchError(`no .cpuprofile written to ${opts.cpuProf}`);
  const file = files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  log(`profile: ${file}; below, only the samples of the measured run`);
  const window = { fromUs: r.window[0], toUs: r.window[1] };
  log(formatProfile(summariseProfile(JSON.parse(readFileSync(file, 'utf8')), 20, window)));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const log = opts.json ? (m) => console.error(m) : (m) => console.log(m);
  ensureTools(log, ROOT, ['dist/cli/main.js', 'dist/lab/free-ports.js'], 'bench:proxy');
  if (availableParallelism() < 2)
    throw new BenchError('needs two cores: one for the proxy, one for wrk and the backends');
  const tck = clockTicks();
  const tmp = makeTempDir();
  if (opts.cpuProf) return profileProxy(opts, log, tmp, tck);

  // HAProxy and NGINX come from Debian's packages; the benchmark does not install them.
  const bins = {};
  const skipped = [];
  for (const key of ['haproxy', 'nginx']) {
    if (!opts.only.includes(key)) continue;
    bins[key] = findBinary(key);
    if (!bins[key]) {
      skipped.push(key);
      log(
        `${key} not found: skipped. Install Debian's package (apt-get install -y ${key}; .ci/run does so when it is missing) and run again.`,
      );
    }
  }
  if (opts.only.includes('http-proxy') && !existsSync(join(ROOT, 'node_modules/http-proxy/package.json')))
    throw new BenchError('http-proxy is not installed: run "npm install" (it is a devDependency)');
  const keys = opts.only.filter((k) => !skipped.includes(k));
  if (opts.against) keys.splice(keys.includes('gateway') ? keys.indexOf('gateway') + 1 : 0, 0, 'against');
  const versions = {
    node: process.version,
    wrk: wrkVersion(),
    ...(bins.haproxy ? { haproxy: versionOf(bins.haproxy, ['-v'], /version (\S+)/) } : {}),
    ...(bins.nginx ? { nginx: versionOf(bins.nginx, ['-v'], /nginx\/(\S+)/) } : {}),
    httpProxy: JSON.parse(readFileSync(join(ROOT, 'node_modules/http-proxy/package.json'), 'utf8')).version,
    undici: JSON.parse(readFileSync(join(ROOT, 'node_modules/undici/package.json'), 'utf8')).version,
  };
  const label = {
    gateway: 'Switchyard gateway',
    against: `gateway from ${opts.against}${opts.againstFlags ? ` (${opts.againstFlags.join(' ')})` : ''}`,
    undici: 'bare undici Pool.stream',
    'http-proxy': `node-http-proxy ${versions.httpProxy}`,
    haproxy: `HAProxy ${versions.haproxy ?? ''}`.trim(),
    nginx: `NGINX ${versions.nginx ?? ''}`.trim(),
  };

  const backends = await startBackends(tmp);
  const proxies = [];
  for (const key of keys) {
    const p = await startProxy(key, { tmp, backends, opts, bins });
    p.key = key;
    p.name = key;
    await probe(p.url);
    proxies.push(p);
  }
  const scripts = { closed: join(tmp, 'closed.lua') };
  writeFileSync(scripts.closed, wrkScript());
  for (const rate of opts.rates) {
    scripts[rate] = join(tmp, `rate-${rate}.lua`);
    writeFileSync(scripts[rate], wrkScript(rate));
  }
  const ctx = { backends, procs: [...proxies, ...backends], tck, scripts, opts };

  const loads = [{ kind: 'closed', name: 'closed', seconds: opts.duration }];
  if (opts.rateDuration > 0)
    for (const rate of opts.rates)
      loads.push({ kind: 'rate', name: `${rate}/s`, rate, seconds: opts.rateDuration });
  const perRound = loads.reduce((t, l) => t + l.seconds + opts.prewarm, 0);
  log(
    `proxies: ${proxies.map((p) => label[p.key]).join(', ')}; ${machine()}, node ${versions.node}, wrk ${versions.wrk}\n` +
      `each proxy alone on core ${PROXY_CORE}; wrk and the two backends on core ${LOAD_CORE}\n` +
      `closed loop: wrk -t1 -c${CONNECTIONS} -d${opts.duration}s` +
      (opts.rateDuration > 0
        ? `; fixed rates: ${opts.rates.join(' and ')} req/s over ${RATE_CONNECTIONS} connections for ${opts.rateDuration} s`
        : '') +
      (opts.prewarm > 0 ? `; each run after ${opts.prewarm} s of the same load, thrown away` : '') +
      `\n${opts.rounds} round(s) after a ${opts.warmup} s warm-up of each: about ` +
      `${Math.max(1, Math.round((proxies.length * (opts.warmup + opts.rounds * perRound)) / 60))} min or more`,
  );
  if (opts.warmup > 0)
    for (const p of proxies) await measure(p, { kind: 'closed', seconds: opts.warmup }, ctx);

  const runs = Object.fromEntries(
    proxies.map((p) => [p.key, Object.fromEntries(loads.map((l) => [l.name, []]))]),
  );
  const started = Date.now();
  for (let round = 1; round <= opts.rounds; round++) {
    // Each round starts one proxy later, so none always runs first or right after another.
    const order = proxies.map((_, i) => proxies[(i + round - 1) % proxies.length]);
    for (const load of loads) {
      for (const p of order) {
        // A run other processes competed with is run again (a bounded number of times); the
        // least disturbed attempt is kept.
        let kept;
        for (let attempt = 0; attempt <= opts.retries; attempt++) {
          const waited = opts.waitQuiet > 0 ? await waitQuiet(ctx, opts.waitQuiet) : 0;
          if (waited > 0) log(`  (waited ${waited} s for other processes to quiet down)`);
          // The proxy has been idle while the others ran; a Node process takes a few seconds to
          // get back to its steady cost after that (its heap shrank meanwhile): this load
          // first, thrown away, so that each run measures the steady state.
          if (opts.prewarm > 0) await runWrk(wrkArgs(p, { ...load, seconds: opts.prewarm }, scripts));
          const r = await measure(p, load, ctx);
          if (!kept || r.otherLoad < kept.otherLoad) kept = r;
          const noisy = r.otherLoad > OTHER_LOAD_WARN;
          log(
            `  round ${round} ${load.name.padEnd(7)} ${p.key.padEnd(10)} ${fmt(r.rps, 0).padStart(7)} req/s` +
              `  p50 ${fmt(r.p50us, 0).padStart(6)}  p99 ${fmt(r.p99us, 0).padStart(7)} µs` +
              `  ${fmt(r.cpuUsPerRequest, 1).padStart(5)} µs CPU/req` +
              `  proxy ${pct(r.proxyCpu).padStart(4)}, cores ${pct(r.proxyCore).padStart(4)}/${pct(r.loadCore).padStart(4)}` +
              `  ${r.limit}` +
              (r.late > 0 ? `  late ${r.late}` : '') +
              `  servers ${r.served.join('/')} (${r.newConnections} new conn)` +
              `  other ${pct(r.otherLoad)}` +
              (noisy ? (attempt < opts.retries ? '  (busy machine: again)' : '  (busy machine)') : ''),
          );
          if (!noisy) break;
        }
        runs[p.key][load.name].push(kept);
      }
    }
  }
  const measuredSeconds = (Date.now() - started) / 1000;
  await stopAll();

  const all = Object.fromEntries(
    proxies.map((p) => [
      p.key,
      Object.fromEntries(loads.map((l) => [l.name, summarise(runs[p.key][l.name])])),
    ]),
  );
  const rateNames = loads.filter((l) => l.kind === 'rate').map((l) => l.name);
  const pairedRatio = (a, b, load, f) =>
    runs[a] && runs[b] ? median(runs[a][load].map((r, i) => f(r) / f(runs[b][load][i]))) : Number.NaN;
  const g = all.gateway;
  const h = all.haproxy;
  const verdict = (v, goal, better) =>
    !Number.isFinite(v) ? 'not judged' : better(v, goal) ? 'PASS' : 'FAIL';
  const le = (v, goal) => v <= goal;
  // Each goal is judged on the median of the rounds' own ratios (the two proxies measured
  // within the same round, minutes apart at most), which cancels the machine's drift between
  // rounds; the ratio of the medians is shown beside it.
  const p99 = (r) => r.p99us;
  const cpu = (r) => r.cpuUsPerRequest;
  const of = (x, y, v) => (x && y ? v(x) / v(y) : Number.NaN);
  const goals = {
    rps: {
      paired: pairedRatio('gateway', 'undici', 'closed', (r) => r.rps),
      ofMedians: of(g?.closed, all.undici?.closed, (x) => x.rps),
    },
    p99: Object.fromEntries(
      rateNames.map((n) => {
        const paired = pairedRatio('gateway', 'haproxy', n, p99);
        return [
          n,
          {
            gateway: g?.[n]?.p99us,
            haproxy: h?.[n]?.p99us,
            paired,
            ofMedians: of(g?.[n], h?.[n], (x) => x.p99us),
            verdict: verdict(paired, GOAL_P99, le),
          },
        ];
      }),
    ),
    cpu: {
      paired: pairedRatio('gateway', 'haproxy', 'closed', cpu),
      ofMedians: of(g?.closed, h?.closed, (x) => x.cpuUsPerRequest),
      atRates: Object.fromEntries(rateNames.map((n) => [n, pairedRatio('gateway', 'haproxy', n, cpu)])),
    },
  };
  goals.rps.verdict = verdict(goals.rps.paired, GOAL_RPS, (v, goal) => v >= goal);
  goals.cpu.verdict = verdict(goals.cpu.paired, GOAL_CPU, le);
  const every = Object.values(all).flatMap((x) => Object.values(x));
  const otherLoad = Math.max(...every.map((x) => x.maxOtherLoad));
  const errors = every.reduce((t, x) => t + x.errors, 0);
  const summary = {
    machine: machine(),
    versions,
    opts: { ...opts, only: keys },
    skipped,
    measuredSeconds,
    results: all,
    goals,
    otherLoad,
    errors,
  };
  const picturesDir = opts.pictures ?? (opts.quick ? undefined : join(ROOT, 'bench/results/proxy'));
  const pictures = picturesDir ? await writeProxyCharts(all, label, summary.machine, picturesDir) : [];
  if (opts.json) {
    console.log(JSON.stringify(summary, null, 2));
    return;
  }

  const range = ([a, b], d = 0) => (Number.isFinite(a) ? `${fmt(a, d)}–${fmt(b, d)}` : '-');
  console.log('');
  console.log(
    `${summary.machine}, node ${versions.node}, wrk ${versions.wrk}; medians of ${opts.rounds} round(s), ` +
      `spread (min–max) in brackets`,
  );
  console.log('');
  console.log(`closed loop, wrk -t1 -c${CONNECTIONS}, ${opts.duration} s a run:`);
  console.log('');
  console.log(
    '| proxy | req/s | p50 / p99 µs | CPU µs/req | proxy CPU; core 0 / core 1 busy | limited by | errors |',
  );
  console.log('|---|---:|---:|---:|---|---|---:|');
  for (const p of proxies) {
    const c = all[p.key].closed;
    console.log(
      `| ${label[p.key]} | ${fmt(c.rps, 0)} (${range(c.rpsRange)}) | ${fmt(c.p50us, 0)} / ${fmt(c.p99us, 0)} (${range(c.p99Range)}) | ` +
        `${fmt(c.cpuUsPerRequest, 1)} (${range(c.cpuRange, 1)}) | ${pct(c.proxyCpu)}; ${pct(c.proxyCore)} / ${pct(c.loadCore)} | ` +
        `${c.limit}${new Set(c.limits).size > 1 ? ` (${c.limits.join(', ')})` : ''} | ${c.errors} |`,
    );
  }
  if (rateNames.length > 0) {
    console.log('');
    console.log(
      `fixed offered load, ${RATE_CONNECTIONS} connections, ${opts.rateDuration} s a run: p50 / p99 µs (p99's spread); CPU µs/req; proxy CPU`,
    );
    console.log('');
    console.log(`| proxy | ${rateNames.map((n) => `at ${n}`).join(' | ')} | late sends | errors |`);
    console.log(`|---|${rateNames.map(() => '---:|').join('')}---:|---:|`);
    for (const p of proxies) {
      const cells = rateNames.map((n) => {
        const r = all[p.key][n];
        return (
          `${fmt(r.p50us, 0)} / ${fmt(r.p99us, 0)} (${range(r.p99Range)}); ${fmt(r.cpuUsPerRequest, 1)}; ${pct(r.proxyCpu)}` +
          (r.limits.includes('rate not kept') ? ' (rate not kept)' : '')
        );
      });
      const late = rateNames.reduce((t, n) => t + all[p.key][n].late, 0);
      const errs = rateNames.reduce((t, n) => t + all[p.key][n].errors, 0);
      console.log(`| ${label[p.key]} | ${cells.join(' | ')} | ${fmt(late, 0)} | ${errs} |`);
    }
  }
  console.log('');
  for (const p of proxies) {
    const xs = Object.values(all[p.key]);
    const fresh = xs.reduce((t, x) => t + x.newConnections, 0);
    const req = xs.reduce((t, x) => t + x.requests, 0);
    console.log(
      `${p.key}: servers got ${all[p.key].closed.served.join(' / ')} requests in the closed loop; ` +
        `${fmt(fresh, 0)} new server connections for ${fmt(req, 0)} requests` +
        (fresh > Math.max(req / 100, 200) ? ' (keep-alive to the servers NOT held)' : ''),
    );
  }
  console.log(
    `limited by: "proxy core" = core 0 (the proxy's) ${SATURATED * 100}%+ busy ("shared": the proxy had under 85 % of it); ` +
      '"load core" = core 1 (wrk and the backends) was; "neither core" = the closed loop waited on latency; ' +
      '"rate not kept" = under 97 % of the offered rate was served. Late sends: requests wrk sent over 1 ms behind ' +
      'their schedule (every connection busy: the proxy had fallen behind).',
  );
  if (pictures.length) console.log(`pictures: ${pictures.map((f) => f.replace(`${ROOT}/`, '')).join(', ')}`);
  if (skipped.length) console.log(`skipped (not installed): ${skipped.join(', ')}`);
  if (errors > 0)
    console.log(
      `warning: wrk saw ${errors} socket error(s) or non-2xx/3xx answer(s): the figures are suspect`,
    );
  if (otherLoad > OTHER_LOAD_WARN)
    console.log(
      `warning: other processes took up to ${pct(otherLoad)} of the two cores during a kept run: the figures are suspect`,
    );
  console.log('');
  const x = (v) => (Number.isFinite(v) ? v.toFixed(2) : '-');
  console.log(
    `goal: gateway req/s >= ${GOAL_RPS} of the bare undici proxy's: ${x(goals.rps.paired)} ` +
      `(median of the rounds' ratios; ratio of the medians ${x(goals.rps.ofMedians)})  ${goals.rps.verdict}`,
  );
  for (const n of rateNames) {
    const q = goals.p99[n];
    console.log(
      `goal: gateway p99 at ${n} within ${GOAL_P99}x HAProxy's: ${x(q.paired)}x ` +
        `(medians ${fmt(q.gateway, 0)} / ${fmt(q.haproxy, 0)} µs = ${x(q.ofMedians)}x)  ${q.verdict}`,
    );
  }
  console.log(
    `stretch: gateway CPU/request within ${GOAL_CPU}x HAProxy's: ${x(goals.cpu.paired)}x in the closed loop ` +
      `(medians: ${x(goals.cpu.ofMedians)}x` +
      (rateNames.length
        ? `; ${rateNames.map((n) => `${x(goals.cpu.atRates[n])}x at ${n}`).join(', ')}`
        : '') +
      `)  ${goals.cpu.verdict}`,
  );
  if (all.against && g) {
    console.log(
      `gateway (--dist) over gateway (--against), paired by round: req/s ${x(pairedRatio('gateway', 'against', 'closed', (r) => r.rps))}, ` +
        `CPU/request ${x(pairedRatio('gateway', 'against', 'closed', (r) => r.cpuUsPerRequest))}` +
        rateNames
          .map(
            (n) =>
              `, CPU/request at ${n} ${x(pairedRatio('gateway', 'against', n, (r) => r.cpuUsPerRequest))}`,
          )
          .join(''),
    );
  }
  console.log(`measured in ${Math.round(measuredSeconds)} s`);
}

try {
  await main();
} catch (e) {
  if (!stoppedBySignal())
    console.error(`bench:proxy: ${e instanceof BenchError ? e.message : (e?.stack ?? e)}`);
  process.exitCode = 1;
} finally {
  await stopAll();
}
