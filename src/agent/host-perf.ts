import { readFileSync } from 'node:fs';
import { freemem, loadavg, totalmem } from 'node:os';

/**
 * The host's performance every interval (document 002 Table 2, what Linux exposes today):
 * CPU use, memory use, load average, and network and disk byte rates from /proc. Counters
 * are cumulative in /proc, so a reading is the difference between two snapshots. The parsers
 * are pure (text in, numbers out) and tested on fixed text; a platform without /proc gives
 * what `os` offers and leaves the rest out.
 *
 * @example
 * let prev = snapshot();
 * // ... one interval later ...
 * const next = snapshot(); const perf = rates(prev, next); prev = next;
 */

export interface CpuTimes {
  busy: number;
  total: number;
}

export interface Snapshot {
  /** Monotonic ms when taken. */
  at: number;
  cpu?: CpuTimes;
  net?: { rx: number; tx: number };
  disk?: { read: number; write: number };
  memory: number;
  load: [number, number, number];
}

export interface HostPerf {
  /** 0..1 over the interval. */
  cpu?: number;
  /** 0..1 now. */
  memory: number;
  load1: number;
  load5: number;
  load15: number;
  netRxBps?: number;
  netTxBps?: number;
  diskReadBps?: number;
  diskWriteBps?: number;
}

/** The "cpu" line of /proc/stat: user nice system idle iowait irq softirq steal ... */
export function parseCpu(stat: string): CpuTimes | undefined {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const n = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (n.length < 4 || n.some((x) => !Number.isFinite(x))) return undefined;
  const idle = n[3]! + (n[4] ?? 0);
  const total = n.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Bytes received and sent by every interface but loopback, from /proc/net/dev. */
export function parseNetDev(text: string): { rx: number; tx: number } | undefined {
  let rx = 0;
  let tx = 0;
  let any = false;
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1]!.trim() === 'lo') continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    if (f.length < 9 || !Number.isFinite(f[0]) || !Number.isFinite(f[8])) continue;
    rx += f[0]!;
    tx += f[8]!;
    any = true;
  }
  return any ? { rx, tx } : undefined;
}

/** Bytes read and written by whole disks (not partitions), from /proc/diskstats. */
export function parseDiskStats(text: string): { read: number; write: number } | undefined {
  let read = 0;
  let write = 0;
  let any = false;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const name = f[2]!;
    // Whole devices only: partitions would count the same bytes twice.
    if (
      /^(loop|ram|dm-)/.test(name) ||
      /^(sd|vd|xvd|hd)[a-z]+\d+$/.test(name) ||
      /^nvme\d+n\d+p\d+$/.test(name)
    )
      continue;
    const sectorsRead = Number(f[5]);
    const sectorsWritten = Number(f[9]);
    if (!Number.isFinite(sectorsRead) || !Number.isFinite(sectorsWritten)) continue;
    read += sectorsRead * 512;
    write += sectorsWritten * 512;
    any = true;
  }
  return any ? { read, write } : undefined;
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Reads the host's counters now. */
export function snapshot(now = performance.now()): Snapshot {
  const stat = readProc('/proc/stat');
  const net = readProc('/proc/net/dev');
  const disk = readProc('/proc/diskstats');
  const total = totalmem();
  const [l1, l5, l15] = loadavg() as [number, number, number];
  return {
    at: now,
    cpu: stat ? parseCpu(stat) : undefined,
    net: net ? parseNetDev(net) : undefined,
    disk: disk ? parseDiskStats(disk) : undefined,
    memory: total > 0 ? 1 - freemem() / total : 0,
    load: [l1, l5, l15],
  };
}

/** The interval's rates between two snapshots. Counters that went backwards (a reset) are left out. */
export function rates(a: Snapshot, b: Snapshot): HostPerf {
  const secs = (b.at - a.at) / 1000;
  const rate = (x: number | undefined, y: number | undefined) =>
    x !== undefined && y !== undefined && secs > 0 && y >= x ? (y - x) / secs : undefined;
  let cpu: number | undefined;
  if (a.cpu && b.cpu && b.cpu.total > a.cpu.total) {
    cpu = Math.min(1, Math.max(0, (b.cpu.busy - a.cpu.busy) / (b.cpu.total - a.cpu.total)));
  }
  const out: HostPerf = { memory: b.memory, load1: b.load[0], load5: b.load[1], load15: b.load[2] };
  if (cpu !== undefined) out.cpu = cpu;
  const put = (k: keyof HostPerf, v: number | undefined) => {
    if (v !== undefined) (out as unknown as Record<string, number>)[k] = v;
  };
  put('netRxBps', rate(a.net?.rx, b.net?.rx));
  put('netTxBps', rate(a.net?.tx, b.net?.tx));
  put('diskReadBps', rate(a.disk?.read, b.disk?.read));
  put('diskWriteBps', rate(a.disk?.write, b.disk?.write));
  return out;
}
