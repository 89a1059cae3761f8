/**
 * What the wrk benchmarks share: starting and stopping their processes on every way out
 * (a temporary directory with them), running and reading wrk, and CPU time from /proc.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const STOP_TIMEOUT_MS = 4_000;

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
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (stopping) process.exit(130); // a second signal: cleanupSync kills what is left
    stopping = true;
    console.error(`\n${sig}: stopping the servers`);
    void stopAll().finally(() => process.exit(130));
  });
}

export function clockTicks() {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
  const n = Number(r.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
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
