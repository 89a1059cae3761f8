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

/** The optional fields by name, as the site file lists them (`agents[].fields`). */
export type FieldName = keyof typeof FIELD_BITS;
export const FIELD_NAMES = Object.keys(FIELD_BITS) as [FieldName, ...FieldName[]];

/** The mask of the fields named. */
export const fieldMask = (names: readonly FieldName[]): number =>
  names.reduce((m, name) => m | FIELD_BITS[name], 0);

export const ALL_FIELDS = fieldMask(FIELD_NAMES);

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
 * A bound on the characters a batch's line holds, kept as records are added; the batch says
 * it is full past FULL_CHARS. The bound is sound whatever the records hold, so a full batch's
 * line always passes the agent's MAX_LINE_BYTES:
 *
 * - Text counts twice, plus its quotes and comma: JSON writes no character of it as more
 *   than two. Node lets no control character but the tab into a URL or a header (the
 *   content type is noted only after Node's writeHead has checked it); a tab, a quote or a
 *   backslash is written as two.
 * - A record's numbers, string-table indexes, flags and separators add at most RECORD_CHARS,
 *   commas included: a start up to 10^15 ms off the batch's (17), queue wait and service
 *   time up to 10^13 µs (15 each), a size up to 10^12 bytes (14), the status (4), seven
 *   indexes under 10^4 (35), two flags (12) and three texts absent (15; present, their
 *   quotes and comma are 3).
 * - The last record may pass FULL_CHARS by at most one record at every limit: RECORD_CHARS
 *   and about 8,900 characters of text, twice over, about 18,000 in all.
 *
 * So a line holds at most 45 Ki + 18,000 + its framing, under 64 Ki. The bound is loose for
 * everyday records (about 30 characters of numbers, not 128), and a batch of them holds
 * about 260 records; the more a batch holds, the fewer of its fixed costs (the timer, the
 * JSON call, the write, caches gone cold since the last one) each record bears.
 */
const FULL_CHARS = 45 * 1024;
/** Records one line may hold: a full batch holds at most FULL_CHARS / RECORD_CHARS (360). */
export const MAX_RECORDS_PER_LINE = 1024;
/** What a record's numbers, indexes and separators add to its line, at most. */
const RECORD_CHARS = 128;

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

/** Records a batch has room for before its columns grow: what fits under FULL_CHARS, since each adds RECORD_CHARS. */
const ROWS = Math.ceil(FULL_CHARS / RECORD_CHARS) + 1;
/** An absent string-table index or flag in its column (an absent number is NaN). */
const NONE = -1;

/**
 * Records gathered for one line, kept column by column as the wire has them: one typed
 * array per column (whole µs, ms and byte counts as doubles, string-table indexes and the
 * status as 32-bit integers, flags as bytes; an absent value is NaN or -1), and one array of
 * strings for each free-text column. What makes a record cheap to a busy server is how
 * little memory it touches, more than how few instructions it runs: between two requests the
 * application's own work evicts whatever the interface touched last time. A record adds one
 * value to each column, next to the last record's, so a batch's records share cache lines;
 * and `take` reads each column as one run of memory of one type, in a loop of its own.
 *
 * Strings that repeat (method, client, protocol, content type, user agent, referrer) are
 * stored as indexes into the batch's string table.
 */
export class RecordBatch implements Pick<RecordSink, 'push'> {
  private base = 0;
  private strings: string[] = [];
  private index = new Map<string, number>();
  private start = new Float64Array(ROWS);
  private method = new Int32Array(ROWS);
  private path: string[] = new Array(ROWS).fill('');
  private status = new Int32Array(ROWS);
  private queueWait = new Float64Array(ROWS);
  private serviceTime = new Float64Array(ROWS);
  private client = new Int32Array(ROWS);
  private query: (string | undefined)[] = new Array(ROWS).fill(undefined);
  private protocol = new Int32Array(ROWS);
  private bytes = new Float64Array(ROWS);
  private contentType = new Int32Array(ROWS);
  private userAgent = new Int32Array(ROWS);
  private referrer = new Int32Array(ROWS);
  private cookies = new Int8Array(ROWS);
  private redirectedTo: (string | undefined)[] = new Array(ROWS).fill(undefined);
  private aborted = new Int8Array(ROWS);
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
    else if (n === this.start.length) this.grow();
    this.start[n] = start - this.base;
    this.method[n] = this.ref(1, method);
    this.path[n] = path;
    this.status[n] = status;
    this.queueWait[n] = us(queueWait);
    this.serviceTime[n] = us(serviceTime);
    this.client[n] = this.ref(6, client);
    this.query[n] = query;
    this.protocol[n] = this.ref(8, protocol);
    this.bytes[n] = bytes ?? Number.NaN;
    this.contentType[n] = this.ref(10, contentType);
    this.userAgent[n] = this.ref(11, userAgent);
    this.referrer[n] = this.ref(12, referrer);
    this.cookies[n] = cookies === undefined ? NONE : cookies ? 1 : 0;
    this.redirectedTo[n] = redirectedTo;
    this.aborted[n] = aborted === undefined ? NONE : aborted ? 1 : 0;
    this.chars += RECORD_CHARS + 2 * (path.length + (query?.length ?? 0) + (redirectedTo?.length ?? 0));
    this.count = n + 1;
  };

  /** The batch's line (without its newline), leaving the batch empty. */
  take(): string {
    const n = this.count;
    const line = JSON.stringify([
      n,
      this.base,
      this.strings,
      numbers(this.start, n),
      indexes(this.method, n),
      texts(this.path, n),
      indexes(this.status, n),
      numbers(this.queueWait, n),
      numbers(this.serviceTime, n),
      indexes(this.client, n),
      texts(this.query, n),
      indexes(this.protocol, n),
      numbers(this.bytes, n),
      indexes(this.contentType, n),
      indexes(this.userAgent, n),
      indexes(this.referrer, n),
      flags(this.cookies, n),
      texts(this.redirectedTo, n),
      flags(this.aborted, n),
    ]);
    this.clear();
    return line;
  }

  /** Empties the batch without writing it (its records are dropped). */
  clear(): void {
    // Let go of the strings the batch held, so they are not kept alive until overwritten.
    this.path.fill('', 0, this.count);
    this.query.fill(undefined, 0, this.count);
    this.redirectedTo.fill(undefined, 0, this.count);
    this.base = 0;
    this.strings = [];
    this.index = new Map();
    this.last.fill(undefined);
    this.count = 0;
    this.chars = 0;
  }

  /** Twice the room, for a batch filled without `full` being heeded (tests, tools). */
  private grow(): void {
    const more = <T extends Float64Array | Int32Array | Int8Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a);
      return b;
    };
    const moreText = <T>(a: T[], empty: T): T[] => a.concat(new Array<T>(a.length).fill(empty));
    this.start = more(this.start);
    this.method = more(this.method);
    this.path = moreText(this.path, '');
    this.status = more(this.status);
    this.queueWait = more(this.queueWait);
    this.serviceTime = more(this.serviceTime);
    this.client = more(this.client);
    this.query = moreText(this.query, undefined);
    this.protocol = more(this.protocol);
    this.bytes = more(this.bytes);
    this.contentType = more(this.contentType);
    this.userAgent = more(this.userAgent);
    this.referrer = more(this.referrer);
    this.cookies = more(this.cookies);
    this.redirectedTo = moreText(this.redirectedTo, undefined);
    this.aborted = more(this.aborted);
  }

  /** The string's index in the table (NONE for none); the batch's first sight of it adds it there. */
  private ref(col: number, s: string | undefined): number {
    if (s === undefined) return NONE;
    if (s === this.last[col]) return this.lastIndex[col]!;
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
      this.chars += 2 * s.length + 3;
    }
    this.last[col] = s;
    this.lastIndex[col] = i;
    return i;
  }
}

/*
 * A column as the wire has it: its one value when every record has the same (most columns of
 * a batch), else an array as long as the batch, absent values null. One function per kind
 * of column, each a plain loop over one typed array. The arrays are filled by push, so they
 * are packed, which JSON.stringify writes on its fast path.
 */

/** Whole numbers (NaN absent). */
function numbers(a: Float64Array, n: number): number | null | (number | null)[] {
  if (n === 0) return null;
  const first = a[0]!;
  const absent = Number.isNaN(first);
  let i = 1;
  // NaN is not equal to itself: a column of absent values is compared apart.
  if (absent) while (i < n && Number.isNaN(a[i]!)) i++;
  else while (i < n && a[i] === first) i++;
  if (i >= n) return absent ? null : first;
  const out: (number | null)[] = [];
  for (let k = 0; k < n; k++) {
    const v = a[k]!;
    out.push(Number.isNaN(v) ? null : v);
  }
  return out;
}

/** String-table indexes and the status (NONE absent). */
function indexes(a: Int32Array, n: number): number | null | (number | null)[] {
  if (n === 0) return null;
  const first = a[0]!;
  let i = 1;
  while (i < n && a[i] === first) i++;
  if (i >= n) return first === NONE ? null : first;
  const out: (number | null)[] = [];
  for (let k = 0; k < n; k++) {
    const v = a[k]!;
    out.push(v === NONE ? null : v);
  }
  return out;
}

/** Flags: 1 true, 0 false, NONE absent. */
function flags(a: Int8Array, n: number): boolean | null | (boolean | null)[] {
  if (n === 0) return null;
  const flag = (v: number) => (v === NONE ? null : v === 1);
  const first = a[0]!;
  let i = 1;
  while (i < n && a[i] === first) i++;
  if (i >= n) return flag(first);
  const out: (boolean | null)[] = [];
  for (let k = 0; k < n; k++) out.push(flag(a[k]!));
  return out;
}

/** Free text (undefined absent). */
function texts(a: (string | undefined)[], n: number): string | null | (string | null)[] {
  if (n === 0) return null;
  const first = a[0];
  let i = 1;
  while (i < n && a[i] === first) i++;
  if (i >= n) return first ?? null;
  const out: (string | null)[] = [];
  for (let k = 0; k < n; k++) out.push(a[k] ?? null);
  return out;
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
  // A real batch is full long before (FULL_CHARS at RECORD_CHARS a record): a bigger count is
  // a 61-byte line asking to be stored 50,000 times (issue 29).
  if (!num(0, MAX_RECORDS_PER_LINE, true)(n)) return refuse('invalid record count');
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
