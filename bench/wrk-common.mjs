/**
 * What the wrk benchmarks share: starting and stopping their processes on every way out
 * (a temporary directory with them), running and reading wrk, and CPU time from /proc.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface as readLines } from 'node:readline';
import { BenchError, clockTicks } from './common.mjs';

const STOP_TIMEOUT_MS = 4_000;
const START_TIMEOUT_MS = 15_000;
/** Longest wait for a process's answer on stdout. */
const STATS_TIMEOUT_MS = 3_000;
const APT_TIMEOUT_MS = 600_000;
/** wrk is killed when it runs this much longer than asked. */
const WRK_GRACE_MS = 30_000;

export { BenchError, clockTicks };

/**
 * Linux with taskset, wrk (installed with apt-get when missing) and the built files the
 * benchmark loads (`built`, relative to `root`); `npmScript` is named in the error.
 */
export function ensureTools(log, root, built, npmScript) {
  if (process.platform !== 'linux') throw new BenchError('needs Linux (/proc/<pid>/stat and taskset)');
  if (!has('taskset'))
    throw new BenchError('taskset not found: it comes with util-linux (apt-get install util-linux)');
  if (!has('wrk')) {
    log('wrk not found: installing it with apt-get ...');
    const r = spawnSync(
      'sh',
      ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk'],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: APT_TIMEOUT_MS, encoding: 'utf8' },
    );
    if (r.status !== 0 || !has('wrk')) {
      const why = r.error?.message ?? (r.stderr || r.stdout || '').trim().split('\n').pop() ?? '';
      throw new BenchError(
        `wrk is missing and "apt-get install wrk" failed${why ? ` (${why})` : ''}; install wrk and run again`,
      );
    }
  }
  for (const f of built)
    if (!existsSync(join(root, f)))
      throw new BenchError(`${f} not found: run "npm run build" (or "npm run ${npmScript}")`);
}

// ---------------------------------------------------------------------------------------------
// Processes: every one started is tracked and stopped on every way out.

const children = new Set();
let tmp;

/** A fresh temporary directory, removed on every way out. */
export function makeTempDir() {
  tmp = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  return tmp;
}

export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function alive(child) {
  return child.exitCode === null && child.signalCode === null;
}

export function waitExit(child, ms) {
  if (!alive(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Signals a child, or its whole process group when it was started as one (wrk under sh). */
export function signal(child, sig) {
  try {
    if (child.group) process.kill(-child.pid, sig);
    else child.kill(sig);
  } catch {
    // already gone
  }
}

export async function stop(child) {
  if (!alive(child)) return;
  signal(child, 'SIGTERM');
  if (await waitExit(child, STOP_TIMEOUT_MS)) return;
  signal(child, 'SIGKILL');
  await waitExit(child, 1000);
}

export async function stopAll() {
  await Promise.all([...children].map(stop));
}

export function cleanupSync() {
  for (const c of children) if (alive(c)) signal(c, 'SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}

process.on('exit', cleanupSync);
let stopping = false;
/** Whether Ctrl-C (or another signal) is stopping the benchmark: runs failing then are no news. */
export function stoppedBySignal() {
  return stopping;
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (stopping) process.exit(130); // a second signal: cleanupSync kills what is left
    stopping = true;
    console.error(`\n${sig}: stopping the servers`);
    void stopAll().finally(() => process.exit(130));
  });
}

/**
 * Starts `node ARGS` pinned to `core` (in `cwd`, with `env` added to this process's
 * environment) and waits for the stdout line that matches `readyRe`.
 * Returns { name, child, pid, match, stats(), ask(command) }: ask() writes the command to its
 * stdin and resolves with the JSON of the "stats ..." line it answers; stats() asks "stats".
 */
export function startNode(name, core, args, readyRe, cwd, env = {}) {
  const child = track(
    spawn('taskset', ['-c', String(core), process.execPath, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  child.stdin.on('error', () => {}); // it may be gone; its exit says so
  let err = '';
  child.stderr.on('data', (d) => {
    err = (err + d).slice(-4000);
  });
  const waiting = [];
  const lines = readLines({ input: child.stdout });
  const proc = {
    name,
    child,
    pid: child.pid,
    stats() {
      return proc.ask('stats');
    },
    ask(command) {
      if (!alive(child)) return Promise.reject(new BenchError(`${name} is no longer running`));
      return new Promise((resolve, reject) => {
        const w = { resolve, reject };
        w.timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(w), 1);
          reject(new BenchError(`${name}: no answer to "${command}" within ${STATS_TIMEOUT_MS} ms`));
        }, STATS_TIMEOUT_MS);
        waiting.push(w);
        child.stdin.write(`${command}\n`);
      });
    },
  };
  lines.on('line', (line) => {
    if (!line.startsWith('stats ')) return;
    const w = waiting.shift();
    if (!w) return;
    clearTimeout(w.timer);
    try {
      w.resolve(JSON.parse(line.slice(6)));
    } catch {
      w.reject(new BenchError(`${name}: bad stats line: ${line.slice(0, 200)}`));
    }
  });
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (why) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const detail = err.trim().split('\n').slice(-5).join('\n  ');
      reject(new BenchError(`${name}: ${why}${detail ? `\n  ${detail}` : ''}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
    child.once('error', (e) => fail(`cannot start: ${e.message}`));
    child.once('exit', (code, sig) => fail(`exited (${sig ?? `code ${code}`}) before it was ready`));
    lines.on('line', (line) => {
      if (done) return;
      const m = readyRe.exec(line);
      if (!m) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...proc, match: m });
    });
  });
}

export function cpuTicks(pid) {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    throw new BenchError(`process ${pid} is gone`);
  }
}

export function fmt(n, digits) {
  return Number.isFinite(n)
    ? n.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '-';
}

export function has(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore', timeout: 5000 });
  return r.status === 0;
}

/** A wrk duration such as "412.55us", "1.20ms" or "2.00s", in µs. */
export function micros(text) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (!m) return Number.NaN;
  const scale = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 }[m[2]];
  return Number(m[1]) * scale;
}

/**
 * CPU time (utime + stime) of a process, all its threads, from a /proc/<pid>/stat line, in
 * clock ticks; with `children`, of its waited-for children instead (cutime + cstime).
 */
export function parseStat(stat, children = false) {
  // Fields after the command name, which is in parentheses and may hold spaces: the state is
  // field 3, utime 14, stime 15, cutime 16, cstime 17.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const at = children ? 13 : 11;
  return Number(f[at]) + Number(f[at + 1]);
}

export function parseWrk(out) {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in ([\d.]+\w+)/.exec(out);
  if (!rps || !total) return undefined;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const pct = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    return m ? micros(m[1]) : Number.NaN;
  };
  return {
    rps: Number(rps[1]),
    requests: Number(total[1]),
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx3xx: non ? Number(non[1]) : 0,
    p50us: pct(50),
    p99us: pct(99),
  };
}

export function wrkVersion() {
  const r = spawnSync('wrk', ['-v'], { encoding: 'utf8', timeout: 5000 });
  const m = /wrk\s+(\S+)/.exec(`${r.stdout}${r.stderr}`);
  return m ? m[1] : 'unknown';
}

/** The median of the finite numbers in `xs`; NaN when there are none. */
export function median(xs) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The q-quantile of the finite numbers in `xs`, interpolated; NaN when there are none. */
export function quantile(xs, q) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (at - lo);
}

/**
 * Busy time of each core since boot, in clock ticks, from /proc/stat: user, nice, system,
 * irq and softirq. The kernel charges the softirq work of loopback TCP to the process that
 * was running, so a process's stime holds some of this machine-wide softirq column.
 */
export function coresBusyTicks() {
  const busy = new Map();
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    if (!/^cpu\d+ /.test(line)) continue;
    const f = line.split(/\s+/);
    busy.set(Number(f[0].slice(3)), Number(f[1]) + Number(f[2]) + Number(f[3]) + Number(f[6]) + Number(f[7]));
  }
  return busy;
}

/**
 * Runs wrk pinned to `core`: `-t threads -c connections -d seconds --latency`, each of
 * `headers` as -H, `-s script` when given, then `url`; wrk's whole output comes back as `out`
 * for what a script prints. It runs under sh, which prints its own /proc stat line once wrk
 * has ended: the children's times there are wrk's CPU time (`wrkTicks`). sh and wrk form
 * their own process group, so a time-out or Ctrl-C stops both.
 */
export function runWrk({ url, seconds, connections, threads, core, headers = [], script }) {
  const sh = 'core=$1; shift; taskset -c "$core" wrk "$@"; s=$?; echo; cat /proc/$$/stat; exit $s';
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency'];
  for (const h of headers) args.push('-H', h);
  if (script) args.push('-s', script);
  args.push(url);
  const child = spawn('sh', ['-c', sh, 'sh', String(core), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.group = true;
  track(child);
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => signal(child, 'SIGKILL'), seconds * 1000 + WRK_GRACE_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new BenchError(`wrk: cannot start: ${e.message}`));
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      const r = parseWrk(out);
      const stat = /^\d+ \(.*$/m.exec(out);
      if (code === 0 && r && stat) resolve({ ...r, wrkTicks: parseStat(stat[0], true), out });
      else reject(new BenchError(`wrk failed (${sig ?? `code ${code}`}):\n${out.trim()}`));
    });
  });
}
