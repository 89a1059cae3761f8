import type { RequestRecord } from './messages.js';

/**
 * A request record on the local channel (interface → agent), in its compact form: one JSON
 * array a line, the fields in a fixed order and no names, without the server (the agent
 * knows which interface the socket belongs to). It is written for every request a server
 * answers, so it is kept cheap on both sides: `JSON.stringify` of an array of plain values
 * to encode, and a hand-written check instead of a schema library to decode (D24). The
 * check enforces the same limits as `requestRecordSchema` in messages.ts.
 *
 * Which optional fields a record carries is chosen by the field mask (FIELD_BITS) the agent
 * sets; an absent field is `null`.
 *
 * @example
 * const line = encodeRecord({ server: 'web-a', start: 1, method: 'GET', path: '/', status: 200, queueWait: 0, serviceTime: 2 });
 * decodeRecord(JSON.parse(line), 'web-a'); // { ok: true, value: { server: 'web-a', start: 1, ... } }
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

export function encodeRecord(r: RequestRecord): string {
  return JSON.stringify([
    r.start,
    r.method,
    r.path,
    r.status,
    us(r.queueWait),
    us(r.serviceTime),
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
  ]);
}

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

/** Field name, check, whether it may be null, and (times) the µs to ms divisor; in order. */
const FIELDS: [keyof RequestRecord, Check, boolean, number?][] = [
  ['start', num(-1e15, 1e15), false],
  ['method', text(16), false],
  ['path', text(2048), false],
  ['status', num(0, 999, true), false],
  ['queueWait', num(0, 1e13, true), false, 1000],
  ['serviceTime', num(0, 1e13, true), false, 1000],
  ['client', text(64), true],
  ['query', text(2048), true],
  ['protocol', text(16), true],
  ['bytes', num(0, 1e12, true), true],
  ['contentType', text(128), true],
  ['userAgent', text(512), true],
  ['referrer', text(2048), true],
  ['cookies', bool, true],
  ['redirectedTo', text(2048), true],
  ['aborted', bool, true],
];
const REQUIRED = FIELDS.filter((f) => !f[2]).length;

/**
 * Checks a parsed compact record and gives the record of `server`, or a one-line reason.
 * Arrays shorter than the full form (a future interface may add fields at the end; an older
 * one may send fewer) are read as far as they go; extra elements are ignored.
 */
export function decodeRecord(
  a: unknown,
  server: string,
): { ok: true; value: RequestRecord } | { ok: false; error: string } {
  if (!Array.isArray(a) || a.length < REQUIRED) return { ok: false, error: 'record: not a record array' };
  const r: Record<string, unknown> = { server };
  const n = Math.min(a.length, FIELDS.length);
  for (let i = 0; i < n; i++) {
    const [key, check, optional, divisor] = FIELDS[i]!;
    const v = a[i];
    if (v === null && optional) continue;
    if (!check(v)) return { ok: false, error: `record.${key}: invalid` };
    r[key] = divisor ? (v as number) / divisor : v;
  }
  return { ok: true, value: r as unknown as RequestRecord };
}
