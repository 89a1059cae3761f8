import { z } from 'zod';
import { readJsonLine } from './local-record.js';
import { queueFiguresSchema } from './messages.js';

/**
 * The local channel between an interface and its host's agent (document 002 section IV):
 * a Unix socket carrying one JSON object per line. The interface dials the agent, says which
 * server it serves, then streams request records; the agent sends commands and asks for the
 * queue figures on its own fast schedule. Both sides validate every line.
 *
 * Request records travel in batches, in a compact form of their own (local-record.ts): a
 * line that starts with `[` is a batch of records, any other line one of the messages below.
 * They carry only the Table 3 fields the agent's mask selects (FIELD_BITS).
 */

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
const id = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** Interface → agent. */
export const fromInterfaceSchema = z.discriminatedUnion('t', [
  z.strictObject({
    t: z.literal('hello'),
    server: name,
    pid: z.number().int().min(0),
    /**
     * The interface process's own id and the number of the first records line that follows
     * (D44): the agent acknowledges lines by number once spooled, and spools a line sent
     * again after a crash once.
     */
    instance: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .optional(),
    first: id.optional(),
    /** HMAC-SHA256 of the agent's challenge under the agent's local key (D50), base64url. */
    proof: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/)
      .optional(),
  }),
  z.strictObject({
    t: z.literal('figures'),
    id,
    figures: queueFiguresSchema,
    /** Requests refused by the queue (full, or waited too long) in the interval. */
    refused: z.number().int().min(0),
    /** Requests redirected away in the interval. */
    redirected: z.number().int().min(0),
  }),
  /** The interface is closing normally (its server stops): not a crash. */
  z.strictObject({ t: z.literal('bye') }),
  z.strictObject({
    t: z.literal('overflow'),
    dropped: z.number().int().min(1),
    /** Why: no agent to take them, or the agent did not acknowledge what it was sent. */
    reason: z.enum(['agent-away', 'agent-slow']).optional(),
  }),
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
  z.strictObject({
    op: z.literal('redirect'),
    id,
    target: z.url({ protocol: /^https?$/ }).max(2048),
    /** ms until the interface serves normally again unless told again (D45). */
    lease: z.number().int().min(1).max(3_600_000),
  }),
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
  /** First line on every connection: the interface proves it may speak for its server (D50). */
  z.strictObject({ op: z.literal('challenge'), nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/) }),
  /** The records lines up to `seq` are spooled: the interface may forget them. No answer. */
  z.strictObject({ op: z.literal('spooled'), seq: id }),
  /** Sidecar only: start or stop the web server process it runs behind it. */
  z.strictObject({ op: z.literal('start-server'), id }),
  z.strictObject({ op: z.literal('stop-server'), id }),
]);

export type FromInterface = z.infer<typeof fromInterfaceSchema>;
export type ToInterface = z.infer<typeof toInterfaceSchema>;

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
  const read = readJsonLine(line);
  if (!read.ok) return read;
  const r = schema.safeParse(read.json);
  if (r.success) return { ok: true, value: r.data };
  const i = r.error.issues[0]!;
  return { ok: false, error: `${i.path.join('.') || 'line'}: ${i.message}` };
}
