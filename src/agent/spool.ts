import {
  closeSync,
  existsSync,
  fdatasync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Batch } from '../link/outbox.js';
import {
  eventSchema,
  type RequestRecord,
  requestRecordSchema,
  type Sample,
  type SwitchyardEvent,
  sampleSchema,
} from '../protocol/messages.js';

/**
 * The agent's spool (D44): a write-ahead log in its data directory of everything it holds
 * for the manager, so an agent killed with `kill -9` loses nothing its interfaces handed
 * over. One JSON value per line, appended as things happen:
 *
 *   {"m":[instance,line],"r":[records]}   records of one interface line, as they arrive
 *   {"b":seq,"n":n,"e":[events],"s":[samples]}  a batch cut: the next n records spooled, and these
 *   {"a":seq}                               the manager acknowledged up to seq
 *   {"B":seq,"r":[..],"e":[..],"s":[..]}    a whole batch (written by a compaction)
 *   {"R":[records]}                         records not yet in a batch (compaction)
 *   {"k":{instance:line}}                   the last line spooled from each interface (compaction)
 *
 * The file is synced (fdatasync) at most `syncEvery` ms after an append, and an interface's
 * records are acknowledged to it only once a sync covers them: until then the interface
 * keeps them and sends them again if the agent dies. Each interface line carries its
 * process's instance and number, so a line sent again after a crash is spooled once.
 *
 * When the file passes its compaction mark, it is rewritten with only what is still held
 * (to a new file, synced, renamed over). The mark is twice what was held at the last
 * compaction (at least `compactAt`), and never above `maxBytes`, the spool's bound
 * (agents[].spoolBytes): the agent holds at most half of it (`holdBytes`, its outbox's bound in
 * bytes; past it the oldest batches are dropped, counted and told to the manager as a gap), so
 * the file stays within the bound, plus at most the lines appended since the last batch.
 *
 * A torn last line (the process died mid-write) is cut off when the spool is opened; every
 * value read back is validated like a message, and one that fails is dropped and counted,
 * never sent to the manager to be refused there.
 *
 * @example
 * const { spool, restored } = Spool.open('/var/lib/switchyard/agent-host-1');
 * spool.records('a1b2', 7, records);
 * spool.batch(batch, records.length);
 * await spool.sync();
 */

export interface Restored {
  batches: Batch<RequestRecord, SwitchyardEvent, Sample>[];
  /** Records not yet in a batch, oldest first. */
  records: RequestRecord[];
  /** The highest number the manager acknowledged. */
  acked: number;
  /** The highest batch number given. */
  lastSeq: number;
  /** The last line spooled from each interface instance. */
  lines: Map<string, number>;
  /** Values in the file that failed validation and were dropped. */
  invalid: number;
  /** Whether there was a spool to read (false: a first start). */
  found: boolean;
}

export interface SpoolState {
  batches: readonly Batch<RequestRecord, SwitchyardEvent, Sample>[];
  records: readonly RequestRecord[];
  acked: number;
  lastSeq: number;
  lines: ReadonlyMap<string, number>;
}

const FILE = 'spool.jsonl';
/** The spool's bound by default, bytes (agents[].spoolBytes). */
export const SPOOL_BYTES = 64 * 1024 * 1024;
/** Interface instances remembered at most (the newest); older ones have long gone. */
const MAX_INSTANCES = 1024;

export class Spool {
  private fd: number;
  private bytes: number;
  /** Bytes of the file known to be on disk (a sync covered them). */
  private durable: number;
  /** Counts rewrites: a sync of the file before one says nothing of the file after it. */
  private generation = 0;
  private dirty = false;
  private syncing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private compactAt: number;
  private readonly waiters: Array<() => void> = [];

  /** fdatasync calls that failed, and the last one's error (nobody waiting was told). */
  syncFailures = 0;
  lastSyncError: string | undefined;

  private constructor(
    private readonly dir: string,
    private readonly syncEvery: number,
    private readonly minCompact: number,
    private readonly maxBytes: number,
    private readonly datasync: typeof fdatasync,
  ) {
    this.fd = openSync(join(dir, FILE), 'a');
    this.bytes = statSync(join(dir, FILE)).size;
    this.durable = this.bytes;
    this.compactAt = this.mark(this.bytes);
  }

  /**
   * Opens (or makes) the spool in `dir` and reads back what it held. `syncEvery`: ms from an
   * append to its sync at most (default 50); `compactAt`: the smallest file compacted (default
   * 1 MiB); `maxBytes`: the spool's bound (default 64 MiB); `datasync`: fs.fdatasync unless a
   * test gives a disk that fails.
   */
  static open(
    dir: string,
    o: { syncEvery?: number; compactAt?: number; maxBytes?: number; datasync?: typeof fdatasync } = {},
  ): { spool: Spool; restored: Restored } {
    mkdirSync(dir, { recursive: true });
    const restored = read(join(dir, FILE));
    const spool = new Spool(
      dir,
      o.syncEvery ?? 50,
      o.compactAt ?? 1024 * 1024,
      o.maxBytes ?? SPOOL_BYTES,
      o.datasync ?? fdatasync,
    );
    return { spool, restored };
  }

  /** Bytes in the file now. */
  get size(): number {
    return this.bytes;
  }

  /** Bytes of the file known to be on disk: everything up to here was covered by a sync. */
  get synced(): number {
    return this.durable;
  }

  /** What the agent may hold for the manager, encoded bytes: half the bound (the rest is for appends). */
  get holdBytes(): number {
    return Math.floor(this.maxBytes / 2);
  }

  /** Records of one interface line (`instance` and `line` say which; both absent for none). */
  records(instance: string | undefined, line: number | undefined, records: readonly RequestRecord[]): void {
    this.append({ ...(instance !== undefined ? { m: [instance, line ?? 0] } : {}), r: records });
  }

  /** A batch cut from the next `n` records spooled, with its events and samples. */
  batch(b: Batch<RequestRecord, SwitchyardEvent, Sample>, n: number): void {
    this.append({ b: b.seq, n, e: b.events, s: b.samples });
  }

  ack(seq: number): void {
    this.append({ a: seq });
  }

  /** Whether the file is due for a compaction (the caller gives the state: `rewrite`). */
  get due(): boolean {
    return this.bytes > this.compactAt;
  }

  /**
   * Writes the state afresh to a new file, synced, and renames it over the old one. Also
   * after a rebase, when the batches' numbers changed.
   */
  rewrite(state: SpoolState): void {
    const tmp = join(this.dir, `${FILE}.new`);
    const fd = openSync(tmp, 'w');
    let bytes = 0;
    const put = (v: unknown) => {
      bytes += writeSync(fd, `${JSON.stringify(v)}\n`);
    };
    const lines = [...state.lines].slice(-MAX_INSTANCES);
    put({ k: Object.fromEntries(lines), a: state.acked, q: state.lastSeq });
    for (const b of state.batches) put({ B: b.seq, r: b.records, e: b.events, s: b.samples });
    if (state.records.length > 0) put({ R: state.records });
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, join(this.dir, FILE));
    closeSync(this.fd);
    this.fd = openSync(join(this.dir, FILE), 'a');
    this.bytes = bytes;
    this.durable = bytes;
    this.generation++;
    this.compactAt = this.mark(bytes);
    this.dirty = false;
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * Resolves once everything appended so far is on disk: at once when `urgent`, else with the
   * next sync on the schedule (at most `syncEvery` ms away), which many appends share.
   */
  sync(urgent = true): Promise<void> {
    if (!this.dirty && this.syncing === undefined) return Promise.resolve();
    return new Promise((r) => {
      this.waiters.push(r);
      this.schedule(urgent ? 0 : this.syncEvery);
    });
  }

  close(): void {
    clearTimeout(this.timer);
    if (this.dirty) fsyncSync(this.fd);
    closeSync(this.fd);
    for (const w of this.waiters.splice(0)) w();
  }

  /** The size at which a file holding `held` bytes is compacted next. */
  private mark(held: number): number {
    return Math.min(this.maxBytes, Math.max(this.minCompact, 2 * held));
  }

  private append(v: unknown): void {
    this.bytes += writeSync(this.fd, `${JSON.stringify(v)}\n`);
    this.dirty = true;
    this.schedule(this.syncEvery);
  }

  private schedule(delay: number): void {
    if (this.timer !== undefined || this.syncing !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, delay);
  }

  /** One fdatasync for everything appended so far; then whoever waited is told. */
  private flush(): void {
    if (!this.dirty) {
      for (const w of this.waiters.splice(0)) w();
      return;
    }
    this.dirty = false;
    const told = this.waiters.splice(0);
    const upTo = this.bytes;
    const generation = this.generation;
    this.syncing = new Promise((resolve) => {
      this.datasync(this.fd, (err) => {
        this.syncing = undefined;
        if (err) {
          // Not on disk: nobody is told it is (interfaces keep their records and send them
          // again); the sync is tried again, and the agent says so once.
          this.syncFailures++;
          this.lastSyncError = err.message;
          this.waiters.unshift(...told);
          this.dirty = true;
        } else {
          if (generation === this.generation) this.durable = Math.max(this.durable, upTo);
          for (const w of told) w();
        }
        resolve();
        // After a failure, not at once: a disk that refuses is asked again on the schedule.
        if (this.dirty || this.waiters.length > 0)
          this.schedule(this.waiters.length > 0 && !err ? 0 : this.syncEvery);
      });
    });
  }
}

/** Reads a spool file back; cuts off a torn last line. */
function read(file: string): Restored {
  const out: Restored = {
    batches: [],
    records: [],
    acked: 0,
    lastSeq: 0,
    lines: new Map(),
    invalid: 0,
    found: existsSync(file),
  };
  if (!out.found) return out;
  const text = readFileSync(file, 'utf8');
  let good = 0;
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\n', at);
    if (end < 0) break; // torn: never acknowledged to anyone, so safe to cut
    const line = text.slice(at, end);
    at = end + 1;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch {
      out.invalid++;
      good = at;
      continue;
    }
    good = at;
    apply(out, v);
  }
  if (good < text.length) {
    const fd = openSync(file, 'r+');
    ftruncateSync(fd, Buffer.byteLength(text.slice(0, good)));
    closeSync(fd);
  }
  out.batches = out.batches.filter((b) => b.seq > out.acked);
  return out;
}

const seqOf = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : undefined);

function valid<T>(
  schema: { safeParse(v: unknown): { success: boolean; data?: T } },
  list: unknown,
  out: Restored,
): T[] {
  if (!Array.isArray(list)) return [];
  const ok: T[] = [];
  for (const item of list) {
    const r = schema.safeParse(item);
    if (r.success) ok.push(r.data as T);
    else out.invalid++;
  }
  return ok;
}

function apply(out: Restored, v: Record<string, unknown>): void {
  if (v === null || typeof v !== 'object') {
    out.invalid++;
    return;
  }
  if ('r' in v && !('B' in v)) {
    out.records.push(...valid<RequestRecord>(requestRecordSchema, v.r, out));
    const m = v.m;
    if (Array.isArray(m) && typeof m[0] === 'string' && seqOf(m[1]) !== undefined)
      out.lines.set(m[0], Math.max(out.lines.get(m[0]) ?? 0, m[1] as number));
    return;
  }
  if ('R' in v) {
    out.records.push(...valid<RequestRecord>(requestRecordSchema, v.R, out));
    return;
  }
  const b = seqOf(v.b);
  if (b !== undefined) {
    const n = Math.min(seqOf(v.n) ?? 0, out.records.length);
    push(out, {
      seq: b,
      records: out.records.splice(0, n),
      events: valid<SwitchyardEvent>(eventSchema, v.e, out),
      samples: valid<Sample>(sampleSchema, v.s, out),
    });
    return;
  }
  const B = seqOf(v.B);
  if (B !== undefined) {
    push(out, {
      seq: B,
      records: valid<RequestRecord>(requestRecordSchema, v.r, out),
      events: valid<SwitchyardEvent>(eventSchema, v.e, out),
      samples: valid<Sample>(sampleSchema, v.s, out),
    });
    return;
  }
  if ('k' in v) {
    const k = v.k;
    if (k && typeof k === 'object')
      for (const [inst, line] of Object.entries(k))
        if (seqOf(line) !== undefined) out.lines.set(inst, line as number);
    out.acked = Math.max(out.acked, seqOf(v.a) ?? 0);
    out.lastSeq = Math.max(out.lastSeq, seqOf(v.q) ?? 0);
    return;
  }
  const a = seqOf(v.a);
  if (a !== undefined) {
    out.acked = Math.max(out.acked, a);
    return;
  }
  out.invalid++;
}

function push(out: Restored, b: Batch<RequestRecord, SwitchyardEvent, Sample>): void {
  out.lastSeq = Math.max(out.lastSeq, b.seq);
  // A batch numbered again (a rebase rewrote the file) replaces what it held.
  const last = out.batches.at(-1);
  if (last && last.seq >= b.seq) out.batches = out.batches.filter((x) => x.seq < b.seq);
  if (b.records.length + b.events.length + b.samples.length > 0) out.batches.push(b);
}
