import { z } from 'zod';
import { queueFiguresSchema, requestRecordSchema } from './messages.js';

/**
 * The local channel between an interface and its host's agent (document 002 section IV):
 * a Unix socket carrying one JSON object per line. The interface dials the agent, says which
 * server it serves, then streams request records; the agent sends commands and asks for the
 * queue figures on its own fast schedule. Both sides validate every line.
 *
 * Request records carry only the Table 3 fields the agent's mask selects (FIELD_BITS).
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

export const ALL_FIELDS = Object.values(FIELD_BITS).reduce((a, b) => a | b, 0);

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
const id = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** Interface → agent. */
export const fromInterfaceSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('hello'), server: name, pid: z.number().int().min(0) }),
  z.strictObject({ t: z.literal('r'), r: requestRecordSchema }),
  z.strictObject({
    t: z.literal('figures'),
    id,
    figures: queueFiguresSchema,
    /** Requests refused by the queue (full, or waited too long) in the interval. */
    refused: z.number().int().min(0),
    /** Requests redirected away in the interval. */
    redirected: z.number().int().min(0),
  }),
  z.strictObject({ t: z.literal('overflow'), dropped: z.number().int().min(1) }),
  z.strictObject({
    t: z.literal('result'),
    id,
    ok: z.boolean(),
    data: z.unknown().optional(),
    error: z.string().max(1000).optional(),
  }),
]);

/** Agent → interface. */
export const toInterfaceSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('figures'), id }),
  z.strictObject({ op: z.literal('redirect'), id, target: z.url({ protocol: /^https?$/ }).max(2048) }),
  z.strictObject({ op: z.literal('cancel-redirect'), id }),
  z.strictObject({
    op: z.literal('set-rules'),
    id,
    mode: z.enum(['stateful', 'movable', 'fixed']),
    pages: z.array(z.string().max(2048)).max(10_000),
  }),
  z.strictObject({ op: z.literal('set-mask'), id, mask: z.number().int().min(0).max(0xffffffff) }),
  z.strictObject({ op: z.literal('echo'), id, text: z.string().max(1000) }),
  z.strictObject({ op: z.literal('pid'), id }),
]);

export type FromInterface = z.infer<typeof fromInterfaceSchema>;
export type ToInterface = z.infer<typeof toInterfaceSchema>;

/** Longest line either side reads; a longer one is dropped and counted. */
export const MAX_LINE_BYTES = 64 * 1024;

/**
 * Parses one line with a schema; a one-line reason instead of throwing.
 *
 * @example
 * parseLine(toInterfaceSchema, '{"op":"pid","id":1}'); // { ok: true, value: { op: 'pid', id: 1 } }
 */
export function parseLine<T>(
  schema: z.ZodType<T>,
  line: string,
): { ok: true; value: T } | { ok: false; error: string } {
  if (line.length > MAX_LINE_BYTES) return { ok: false, error: 'line too long' };
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const r = schema.safeParse(json);
  if (r.success) return { ok: true, value: r.data };
  const i = r.error.issues[0]!;
  return { ok: false, error: `${i.path.join('.') || 'line'}: ${i.message}` };
}
