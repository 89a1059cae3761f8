import type { RequestRecord } from './messages.js';

/**
 * Request records on the local channel (interface → agent), in their compact form (D24,
 * D26). A record is written for every request a server answers, and the interface runs in
 * the server's own process, so what a record costs there is kept as small as it can be:
 *
 * - Records travel in batches, one line a batch, column by column: a JSON array of the
 *   batch's record count, its start time, a string table, then one entry per field: an array
 *   as long as the batch, or a single value when every record has the same one (the method,
 *   the protocol, mostly the status: most columns of a batch are one value repeated).
 *   Numbers in a column are small whole numbers (start times as ms after the batch's start,
 *   queue wait and service time in µs), which JSON writes quickest.
 * - The strings that repeat from request to request (method, client, protocol, content type,
 *   user agent, referrer) are written once a batch, in the string table; their columns hold
 *   indexes into it. A user agent is about 100 bytes, and a browser sends the same one with
 *   every request.
 * - There is no field name and no server name (the agent knows which interface a socket
 *   belongs to), and no object is built per record on the way to the socket.
 *
 * The agent decodes by hand, with the limits of `requestRecordSchema`; a bad value costs only
 * its own record. Which optional fields a record carries is chosen by the field mask
 * (FIELD_BITS) the agent sets; an absent field is `null`.
 *
 * @example
 * const b = new RecordBatch();
 * b.add({ server: 'web-a', start: 1, method: 'GET', path: '/', status: 200, queueWait: 0, serviceTime: 2 });
 * const line = b.take(); // '[1,1,["GET"],0,0,"/",200,0,2000,null,...]'
 * decodeBatch(JSON.parse(line), 'web-a', (r) => console.log(r)); // { records: 1, invalid: 0 }
 */

/** Bits of the field mask, one per optional Table 3 field. */
export const FIELD_BITS = {
  client: 1,
  query: 2,
  protocol: 4,
  bytes: 8,
  contentType: 16,
  userAgent: 32,
  referrer: 64,
  cookies: 128,
  redirectedTo: 256,
  aborted: 512,
} as const;

/** Longest line either side of the local channel reads; a longer one is dropped and counted. */
export const MAX_LINE_BYTES = 64 * 1024;

/**
 * The first step of reading any line of the local channel, either side: its length, then
 * JSON. Shared by the schema check (local.ts), the interface's command check and the
 * agent's record decoding, and free of zod so the interface can use it.
 */
export function readJsonLine(line: string): { ok: true; json: unknown } | { ok: false; error: string } {
  if (line.length > MAX_LINE_BYTES) return { ok: false, error: 'line too long' };
  try {
    return { ok: true, json: JSON.parse(line) };
  } catch {
    return { ok: false, error: 'not JSON' };
  }
}

export const ALL_FIELDS = Object.values(FIELD_BITS).reduce((a, b) => a | b, 0);

/**
 * Queue wait and service time travel as whole microseconds: more digits say nothing, and a
 * whole number is both shorter and much quicker to write than a fraction.
 */
const us = (ms: number) => Math.round(ms * 1000);

type Check = (v: unknown) => boolean;
const text =
  (max: number): Check =>
  (v) =>
    typeof v === 'string' && v.length <= max;
const num =
  (min: number, max: number, int = false): Check =>
  (v) =>
    typeof v === 'number' && v >= min && v <= max && (!int || Number.isInteger(v));
const bool: Check = (v) => typeof v === 'boolean';

/**
 * The columns, in their order on the wire after the record count, the batch's start and the
 * string table, each with the limits of `requestRecordSchema`. The required ones come first.
 * `table`: the values are indexes into the string table; `divisor`: µs on the wire, ms in
 * the record.
 */
const COLUMNS: { key: keyof RequestRecord; check: Check; optional?: true; table?: true; divisor?: number }[] =
  [
    { key: 'start', check: num(-1e15, 1e15) },
    { key: 'method', check: text(16), table: true },
    { key: 'path', check: text(2048) },
    { key: 'status', check: num(0, 999, true) },
    { key: 'queueWait', check: num(0, 1e13, true), divisor: 1000 },
    { key: 'serviceTime', check: num(0, 1e13, true), divisor: 1000 },
    { key: 'client', check: text(64), optional: true, table: true },
    { key: 'query', check: text(2048), optional: true },
    { key: 'protocol', check: text(16), optional: true, table: true },
    { key: 'bytes', check: num(0, 1e12, true), optional: true },
    { key: 'contentType', check: text(128), optional: true, table: true },
    { key: 'userAgent', check: text(512), optional: true, table: true },
    { key: 'referrer', check: text(2048), optional: true, table: true },
    { key: 'cookies', check: bool, optional: true },
    { key: 'redirectedTo', check: text(2048), optional: true },
    { key: 'aborted', check: bool, optional: true },
  ];
const REQUIRED = COLUMNS.filter((c) => !c.optional).length;

/**
 * Characters gathered before a batch says it is full. A record's strings are cut to their
 * limits (about 9,000 characters at most), and JSON at most doubles what the HTTP parser
 * lets through (a tab, a quote, a backslash), so a full batch's line stays under
 * MAX_LINE_BYTES.
 */
const FULL_CHARS = 16 * 1024;
/** What a record's numbers, indexes and separators add to its line, at most. */
const RECORD_CHARS = 96;

/**
 * Where an interface puts what it knows of each request it answered. The fields come as
 * arguments, in the wire's column order, and not as a RequestRecord: a busy server answers
 * thousands of requests a second, and building an object of seventeen fields for each, only
 * to take it apart again, is a measurable share of what reporting costs it (D26). Times are
 * ms; an absent optional field is `undefined`.
 */
export interface RecordSink {
  /** Whether to report this request at all: false when it would be dropped (no agent, a full buffer). */
  accept(): boolean;
  push(
    start: number,
    method: string,
    path: string,
    status: number,
    queueWait: number,
    serviceTime: number,
    client: string | undefined,
    query: string | undefined,
    protocol: string | undefined,
    bytes: number | undefined,
    contentType: string | undefined,
    userAgent: string | undefined,
    referrer: string | undefined,
    cookies: boolean | undefined,
    redirectedTo: string | undefined,
    aborted: boolean | undefined,
  ): void;
}

/** A sink that hands each record of `server` to `report` as an object (tests, embedding). */
export function objectSink(server: string, report: (r: RequestRecord) => void): RecordSink {
  return {
    accept: () => true,
    push(...values) {
      const r: Record<string, unknown> = { server };
      for (let j = 0; j < COLUMNS.length; j++) if (values[j] !== undefined) r[COLUMNS[j]!.key] = values[j];
      report(r as unknown as RequestRecord);
    },
  };
}

/** Numbers a record takes in a batch's row store: one per column (a text column's is unused). */
const W = COLUMNS.length;
/** The columns whose values are kept as strings, and their place among a record's three. */
const TEXT = new Map<number, number>([
  [2, 0],
  [7, 1],
  [14, 2],
]);
const BOOLEAN = new Set([13, 15]);
/** Records a batch holds before its store grows: what fits under FULL_CHARS, since each adds RECORD_CHARS. */
const ROWS = Math.ceil(FULL_CHARS / RECORD_CHARS) + 1;

/**
 * Records gathered for one line. A record is written as a row of numbers into one typed
 * array, and its three free-text fields into one array of strings: a handful of stores to
 * memory that lie together, of one type each. What makes a record cheap to a busy server is
 * how little it touches, more than how few instructions it runs: between two requests the
 * application's own work evicts whatever the interface touched last time, and code that sees
 * values of many types at one place (a column of numbers here, of strings there) runs its
 * slowest, generic path. The columns are made once a batch, by `take`, in one tight loop:
 * a column that holds one value repeated (most of them) is written as that value.
 *
 * Strings that repeat (method, client, protocol, content type, user agent, referrer) are
 * stored as indexes into the batch's string table.
 */
export class RecordBatch implements Pick<RecordSink, 'push'> {
  private base = 0;
  private strings: string[] = [];
  private index = new Map<string, number>();
  /** Row i's column j is at i * W + j; an absent value is NaN, a boolean 1 or 0. */
  private rows = new Float64Array(ROWS * W);
  /** Row i's path, query and redirect target at i * 3 + 0, 1, 2. */
  private texts: (string | undefined)[] = new Array(ROWS * 3).fill(undefined);
  /**
   * The last string each table column saw, and its index. A connection's requests carry the
   * same strings (its client, user agent, the page's content type), so comparing with the
   * last one usually spares the Map lookup, which must hash a fresh string each time.
   */
  private last: (string | undefined)[] = COLUMNS.map(() => undefined);
  private lastIndex: number[] = COLUMNS.map(() => 0);
  /** Records in the batch. */
  count = 0;
  /** A bound on the characters of the batch's line, before escaping. */
  chars = 0;

  get full(): boolean {
    return this.chars >= FULL_CHARS;
  }

  /** Adds a record given as an object: for tests and tools; the interface calls `push`. */
  add(r: RequestRecord): void {
    this.push(
      r.start,
      r.method,
      r.path,
      r.status,
      r.queueWait,
      r.serviceTime,
      r.client,
      r.query,
      r.protocol,
      r.bytes,
      r.contentType,
      r.userAgent,
      r.referrer,
      r.cookies,
      r.redirectedTo,
      r.aborted,
    );
  }

  readonly push: RecordSink['push'] = (
    start,
    method,
    path,
    status,
    queueWait,
    serviceTime,
    client,
    query,
    protocol,
    bytes,
    contentType,
    userAgent,
    referrer,
    cookies,
    redirectedTo,
    aborted,
  ) => {
    const n = this.count;
    if (n === 0) this.base = start;
    if ((n + 1) * W > this.rows.length) this.grow();
    const r = this.rows;
    const o = n * W;
    r[o] = start - this.base;
    r[o + 1] = this.ref(1, method);
    r[o + 3] = status;
    r[o + 4] = us(queueWait);
    r[o + 5] = us(serviceTime);
    r[o + 6] = this.ref(6, client);
    r[o + 8] = this.ref(8, protocol);
    r[o + 9] = bytes ?? Number.NaN;
    r[o + 10] = this.ref(10, contentType);
    r[o + 11] = this.ref(11, userAgent);
    r[o + 12] = this.ref(12, referrer);
    r[o + 13] = cookies === undefined ? Number.NaN : cookies ? 1 : 0;
    r[o + 15] = aborted === undefined ? Number.NaN : aborted ? 1 : 0;
    const t = this.texts;
    const k = n * 3;
    t[k] = path;
    t[k + 1] = query;
    t[k + 2] = redirectedTo;
    this.chars += RECORD_CHARS + path.length + (query?.length ?? 0) + (redirectedTo?.length ?? 0);
    this.count = n + 1;
  };

  /** The batch's line (without its newline), leaving the batch empty. */
  take(): string {
    const out: unknown[] = [this.count, this.base, this.strings];
    for (let j = 0; j < W; j++) out.push(this.column(j));
    const line = JSON.stringify(out);
    this.clear();
    return line;
  }

  /** Empties the batch without writing it (its records are dropped). */
  clear(): void {
    this.texts.fill(undefined, 0, this.count * 3);
    this.base = 0;
    this.strings = [];
    this.index = new Map();
    this.last.fill(undefined);
    this.count = 0;
    this.chars = 0;
  }

  /** Column j as the wire has it: its one value when every record has the same, else an array. */
  private column(j: number): unknown {
    const n = this.count;
    if (n === 0) return null;
    const text = TEXT.get(j);
    if (text !== undefined) {
      const t = this.texts;
      const first = t[text] ?? null;
      let i = 1;
      while (i < n && (t[i * 3 + text] ?? null) === first) i++;
      if (i >= n) return first;
      const all: (string | null)[] = [];
      for (let i = 0; i < n; i++) all.push(t[i * 3 + text] ?? null);
      return all;
    }
    const r = this.rows;
    const value = BOOLEAN.has(j)
      ? (v: number) => (Number.isNaN(v) ? null : v === 1)
      : (v: number) => (Number.isNaN(v) ? null : v);
    const first = r[j]!;
    // Absent (NaN) counts as equal to absent.
    const same = Number.isNaN(first) ? Number.isNaN : (v: number) => v === first;
    let i = 1;
    while (i < n && same(r[i * W + j]!)) i++;
    if (i >= n) return value(first);
    const all: unknown[] = [];
    for (let i = 0; i < n; i++) all.push(value(r[i * W + j]!));
    return all;
  }

  /** More room, for a batch filled without `full` being heeded (tests, tools). */
  private grow(): void {
    const rows = new Float64Array(this.rows.length * 2);
    rows.set(this.rows);
    this.rows = rows;
    const texts = new Array(this.texts.length * 2).fill(undefined);
    for (let i = 0; i < this.count * 3; i++) texts[i] = this.texts[i];
    this.texts = texts;
  }

  /** The string's index in the table (NaN for none); the batch's first sight of it adds it there. */
  private ref(col: number, s: string | undefined): number {
    if (s === undefined) return Number.NaN;
    if (s === this.last[col]) return this.lastIndex[col]!;
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
      this.chars += s.length;
    }
    this.last[col] = s;
    this.lastIndex[col] = i;
    return i;
  }
}

/** One line for the records given: for tests and tools; the interface keeps a RecordBatch. */
export function encodeRecords(records: RequestRecord[]): string {
  const b = new RecordBatch();
  for (const r of records) b.add(r);
  return b.take();
}

const isIndex = (v: unknown, n: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < n;

/**
 * Checks a parsed batch line and hands each good record of `server` to `onRecord`, in order.
 * A batch of the wrong shape is refused whole, with a one-line reason; a bad value costs only
 * its own record (counted in `invalid`, the first reason kept). A line with fewer columns
 * than this version knows (an older interface) reads the missing optional ones as absent;
 * extra columns (a newer one) are ignored.
 */
export function decodeBatch(
  a: unknown,
  server: string,
  onRecord: (r: RequestRecord) => void,
): { records: number; invalid: number; error?: string } {
  const refuse = (error: string) => ({ records: 0, invalid: 0, error: `records: ${error}` });
  // The required columns come first: a line must hold at least those.
  if (!Array.isArray(a) || a.length < 3 + REQUIRED) return refuse('not a record batch');
  const [n, base, strings] = a as unknown[];
  if (!num(0, 1e6, true)(n)) return refuse('invalid record count');
  if (!num(-1e15, 1e15)(base)) return refuse('invalid batch start');
  if (!Array.isArray(strings) || !strings.every((s) => typeof s === 'string'))
    return refuse('invalid string table');
  const cols = a.slice(3, 3 + COLUMNS.length) as unknown[];
  for (let j = 0; j < cols.length; j++) {
    const col = cols[j];
    if (Array.isArray(col) && col.length !== n)
      return refuse(`column ${COLUMNS[j]!.key}: not as long as the batch`);
  }
  let records = 0;
  let invalid = 0;
  let error: string | undefined;
  next: for (let i = 0; i < (n as number); i++) {
    const r: Record<string, unknown> = { server };
    for (let j = 0; j < COLUMNS.length; j++) {
      const { key, check, optional, table, divisor } = COLUMNS[j]!;
      const col = j < cols.length ? cols[j] : null;
      let v = Array.isArray(col) ? col[i] : col;
      if (v === null && optional) continue;
      if (table) v = isIndex(v, strings.length) ? strings[v] : undefined;
      else if (j === 0 && typeof v === 'number') v += base as number;
      if (!check(v)) {
        invalid++;
        error ??= `record.${key}: invalid`;
        continue next;
      }
      r[key] = divisor ? (v as number) / divisor : v;
    }
    records++;
    onRecord(r as unknown as RequestRecord);
  }
  return { records, invalid, error };
}
