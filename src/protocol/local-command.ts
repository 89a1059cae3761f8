import type { ToInterface } from './local.js';
import { readJsonLine } from './local-record.js';

/**
 * The interface's check of a command line from its agent. `toInterfaceSchema` in local.ts
 * declares the commands; this enforces the same shapes and limits by hand, because the
 * interface lives inside the application's process: loading a schema library there doubled
 * its heap and cost the server about 2 µs of CPU on every request (BENCHMARKS.md, D24).
 * test/protocol/local-command.test.ts holds both to the same answers.
 *
 * @example
 * checkCommand('{"op":"pid","id":1}'); // { ok: true, value: { op: 'pid', id: 1 } }
 * checkCommand('{"op":"pid"}');        // { ok: false, error: 'id: expected a whole number ≥ 0' }
 */

type Result = { ok: true; value: ToInterface } | { ok: false; error: string };
type Fields = Record<string, (v: unknown) => string | undefined>;

const id = (v: unknown) =>
  Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : 'expected a whole number ≥ 0';
const text = (max: number) => (v: unknown) =>
  typeof v === 'string' && v.length <= max ? undefined : `expected text of at most ${max} characters`;
const httpUrl = (v: unknown) => {
  if (typeof v !== 'string' || v.length > 2048) return 'expected an http(s) URL';
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : 'expected an http(s) URL';
  } catch {
    return 'expected an http(s) URL';
  }
};
const mask = (v: unknown) =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff
    ? undefined
    : 'expected a whole number from 0 to 4294967295';
const mode = (v: unknown) =>
  v === 'stateful' || v === 'movable' || v === 'fixed' ? undefined : 'expected stateful, movable or fixed';
const pages = (v: unknown) => {
  if (!Array.isArray(v) || v.length > 10_000) return 'expected a list of at most 10000 pages';
  const t = text(2048);
  for (let i = 0; i < v.length; i++) if (t(v[i])) return `${i}: expected text of at most 2048 characters`;
  return undefined;
};

const COMMANDS: Record<ToInterface['op'], Fields> = {
  figures: { id },
  redirect: {
    id,
    target: httpUrl,
    lease: (v) =>
      Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 3_600_000
        ? undefined
        : 'expected whole ms from 1 to 3600000',
  },
  'cancel-redirect': { id },
  'set-rules': { id, mode, pages },
  'set-mask': { id, mask },
  echo: { id, text: text(1000) },
  pid: { id },
  spooled: { seq: id },
  challenge: {
    nonce: (v) =>
      typeof v === 'string' && /^[A-Za-z0-9_-]{16,64}$/.test(v) ? undefined : 'expected a nonce',
  },
  'start-server': { id },
  'stop-server': { id },
};

export function checkCommand(line: string): Result {
  const read = readJsonLine(line);
  if (!read.ok) return read;
  const c = read.json;
  if (typeof c !== 'object' || c === null || Array.isArray(c))
    return { ok: false, error: 'line: expected an object' };
  const o = c as Record<string, unknown>;
  const fields =
    typeof o.op === 'string' && Object.hasOwn(COMMANDS, o.op)
      ? COMMANDS[o.op as ToInterface['op']]
      : undefined;
  if (!fields) return { ok: false, error: 'op: unknown command' };
  for (const [key, check] of Object.entries(fields)) {
    const error = check(o[key]);
    if (error) return { ok: false, error: `${key}: ${error}` };
  }
  for (const key of Object.keys(o))
    if (key !== 'op' && !Object.hasOwn(fields, key)) return { ok: false, error: `${key}: not expected` };
  return { ok: true, value: o as ToInterface };
}
