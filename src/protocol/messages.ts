import { z } from 'zod';
import { authSchema, challengeSchema, componentId, refusedSchema, welcomeSchema } from './handshake.js';
import { PROTOCOL_VERSION } from './version.js';

/**
 * Every message between components, declared once: the schema validates what arrives and
 * gives the TypeScript type. Nothing else goes on the wire. Each carries the protocol
 * version; anything invalid is refused with a reason the receiver logs and counts.
 *
 * Stored things (request records, events, metric samples) travel in `batch` messages with a
 * per-sender sequence number. The manager acknowledges a batch only once it is committed, and
 * a batch whose number it has already stored is acknowledged again without being stored, so a
 * replay after a reconnect is stored once.
 *
 * Times that cross hosts are ages (ms before sending), not clock readings, so clocks that
 * disagree between hosts cannot make figures look fresher or staler than they are.
 */

const v = z.literal(PROTOCOL_VERSION);
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'expected a name');
const count = z.number().int().min(0).max(1e12);
const ms = z.number().min(0).max(1e10);
const finite = z.number().min(-1e15).max(1e15);
const text = (max: number) => z.string().max(max);

/** A server's queue counters for one report interval (core/load-value.ts QueueFigures). */
export const queueFiguresSchema = z.strictObject({
  queueLength: count,
  busy: count,
  slots: z.number().int().min(1).max(1e6),
  queueDelay: ms,
  serviceTime: ms,
  requests: count,
  errors: count,
});

/** Document 002 Table 3, the fields that make sense today; all but the first few optional. */
export const requestRecordSchema = z.strictObject({
  server: name,
  /** Wall-clock ms when the request arrived (logged, never used for freshness). */
  start: finite,
  method: text(16),
  path: text(2048),
  status: z.number().int().min(0).max(999),
  queueWait: ms,
  serviceTime: ms,
  client: text(64).optional(),
  query: text(2048).optional(),
  protocol: text(16).optional(),
  bytes: count.optional(),
  contentType: text(128).optional(),
  userAgent: text(512).optional(),
  referrer: text(2048).optional(),
  cookies: z.boolean().optional(),
  redirectedTo: text(2048).optional(),
  aborted: z.boolean().optional(),
});

/** Document 002 Table 6. */
export const eventSchema = z.strictObject({
  /** Internal name of the component or object the event is about. */
  source: text(128),
  /** Stable code, e.g. "server.down", "records.overflow". */
  code: z.string().regex(/^[a-z][a-z0-9.-]{0,63}$/),
  text: text(1000),
  /** ms before the message was sent. */
  age: ms,
  level: z.enum(['info', 'warn', 'error']).default('info'),
});

/** Document 002 Table 5 and the text after it: component, metric, interval, value. */
export const sampleSchema = z.strictObject({
  component: text(128),
  metric: z.string().regex(/^[a-z][a-z0-9_.]{0,63}$/),
  /** Interval start and stop as ages, ms before sending. */
  startAge: ms,
  stopAge: ms,
  value: finite,
});

/** Table 1: what a host is, sent once per connection and stored only when it changes. */
export const hostFactsSchema = z.strictObject({
  hostname: text(255),
  os: text(64),
  release: text(128),
  arch: text(32),
  cpus: z.number().int().min(0).max(100_000),
  memoryMb: count,
  interfaces: z
    .array(
      z.strictObject({
        name: text(64),
        address: text(64),
        family: text(8),
        netmask: text(64),
        mac: text(32),
      }),
    )
    .max(256),
  disks: z.array(z.strictObject({ mount: text(512), sizeBytes: count })).max(256),
});

/**
 * The most a batch may hold, declared once for both ends (D43): the manager refuses more,
 * and a sender splits what would be more into several batches, so nothing is refused for
 * its size. `bytes` is the batch as encoded, well under MAX_MESSAGE_BYTES.
 */
export const BATCH_LIMITS = { items: 10_000, bytes: 4 * 1024 * 1024 } as const;

const seq = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const batchSchema = z.strictObject({
  v,
  type: z.literal('batch'),
  seq,
  /**
   * The sender's last acknowledged number when the batches between it and `seq` were dropped
   * (its outbox overflowed): the manager may go on from there and records the gap. Absent,
   * the batch follows `seq − 1`, and the manager stores it only once that one is stored (D43).
   */
  prev: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  /** Items (records, events, samples) in the batches dropped between `prev` and `seq`. */
  lost: count.optional(),
  records: z.array(requestRecordSchema).max(BATCH_LIMITS.items).default([]),
  events: z.array(eventSchema).max(BATCH_LIMITS.items).default([]),
  samples: z.array(sampleSchema).max(BATCH_LIMITS.items).default([]),
});

export const factsSchema = z.strictObject({ v, type: z.literal('facts'), host: hostFactsSchema });

/** The fast path: each server's queue figures, every report interval, never batched. */
export const figuresSchema = z.strictObject({
  v,
  type: z.literal('figures'),
  servers: z
    .array(
      z.strictObject({
        server: name,
        /** The interface's exact counters; absent for a server without an interface. */
        figures: queueFiguresSchema.optional(),
        /** ms between measuring and sending. */
        age: ms,
        /** Positive evidence the server is down (its interface went away, its test page failed). */
        down: text(300).optional(),
      }),
    )
    .max(10_000),
  /** Host readings for thresholds on CPU and memory (0..1). */
  cpu: z.number().min(0).max(1).optional(),
  memory: z.number().min(0).max(1).optional(),
});

/**
 * Everything up to `seq` is stored. With `resend`, a batch after it could not be stored (the
 * store failed, or it came before the one it follows): the sender sends again, after a
 * pause, everything after `seq` (D43).
 */
export const ackSchema = z.strictObject({
  v,
  type: z.literal('ack'),
  seq: count,
  resend: z.literal(true).optional(),
});

const command = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('redirect'),
    server: name,
    target: z.url({ protocol: /^https?$/ }).max(2048),
    /** ms the redirect holds unless renewed (D45): a manager that dies leaves none standing. */
    lease: z.number().int().min(1).max(3_600_000),
  }),
  z.strictObject({ op: z.literal('cancel-redirect'), server: name }),
  z.strictObject({
    op: z.literal('set-rules'),
    server: name,
    mode: z.enum(['stateful', 'movable', 'fixed']),
    pages: z.array(text(2048)).max(10_000),
  }),
  z.strictObject({ op: z.literal('set-mask'), server: name, mask: z.number().int().min(0).max(0xffffffff) }),
  z.strictObject({ op: z.literal('echo'), text: text(1000) }),
  z.strictObject({ op: z.literal('pid'), server: name }),
  z.strictObject({ op: z.literal('start'), server: name }),
  z.strictObject({ op: z.literal('stop'), server: name }),
]);

export const commandSchema = z.strictObject({
  v,
  type: z.literal('command'),
  id: count,
  command,
});

export const resultSchema = z.strictObject({
  v,
  type: z.literal('result'),
  id: count,
  ok: z.boolean(),
  data: z.unknown().optional(),
  error: text(1000).optional(),
});

/** What the manager tells an interceptor about one server. */
export const serverLoadSchema = z.strictObject({
  server: name,
  /** Dynamic load value L, 0..10,000. */
  L: z.number().min(0).max(10_000),
  /** The figures behind L, so a policy can estimate delay and count its own referrals. */
  figures: queueFiguresSchema.optional(),
  /** ms between measuring the figures and sending this message. */
  age: ms,
  level: z.enum(['normal', 'heavy', 'max']),
  /** The manager has positive evidence the server is down. */
  failed: z.boolean(),
  /** Longer-window average of L, the interceptor's fallback when figures go stale. */
  average: z.number().min(0).max(10_000).optional(),
});

export const loadSchema = z.strictObject({
  v,
  type: z.literal('load'),
  servers: z.array(serverLoadSchema).max(100_000),
  /** Applications the manager considers swamped: every available server back in rotation. */
  swamped: z.array(name).max(100_000).default([]),
  /** Interceptors the manager feeds: independent doors, each of which sees only its own referrals. */
  doors: z.number().int().min(1).max(100_000).optional(),
});

const overrideOrigin = z.strictObject({ age: ms, by: text(200) });

/** Operator overrides, kept by the manager and pushed whole to every interceptor. */
export const overridesSchema = z.strictObject({
  v,
  type: z.literal('overrides'),
  applications: z.record(
    name,
    z.strictObject({ enabled: z.boolean().optional(), sorryPage: text(1024 * 1024).optional() }),
  ),
  servers: z.record(
    name,
    z.strictObject({ enabled: z.boolean().optional(), capacity: z.number().min(1).max(10).optional() }),
  ),
  /**
   * Where each field's value came from and how long ago it was set (ms: an age, so the
   * interceptor's clock need not agree with the manager's), for `ctl status` (D46).
   */
  origins: z
    .strictObject({
      applications: z.record(name, z.partialRecord(z.enum(['enabled', 'sorryPage']), overrideOrigin)),
      servers: z.record(name, z.partialRecord(z.enum(['enabled', 'capacity']), overrideOrigin)),
    })
    .optional(),
});

/** An operator change made at an interceptor's admin endpoint, passed on to the manager. */
export const overrideChangeSchema = z.strictObject({
  v,
  type: z.literal('override'),
  /** "all" with `reset` drops every override. */
  target: z.enum(['application', 'server', 'all']),
  /**
   * ms since the operator made the change: one kept while the manager was away reaches it
   * late, and must not undo a newer one (D46).
   */
  age: ms.optional(),
  name: name.optional(),
  enabled: z.boolean().optional(),
  capacity: z.number().min(1).max(10).optional(),
  sorryPage: text(1024 * 1024).optional(),
  reset: z.boolean().optional(),
  /** Wall-clock ms at the interceptor when the operator made the change; the proof covers it. */
  made: z.number().int().min(0),
  /** The operator's proof (protocol/operator-proof.ts): HMAC under the admin token (D52). */
  proof: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'expected a base64url HMAC-SHA256'),
});

/**
 * A gateway's admission queues (issue 30), sent by an interceptor with proxy applications
 * every second: the manager shows them beside the servers' own figures (`ctl manager`).
 */
export const gatewayFiguresSchema = z.strictObject({
  v,
  type: z.literal('gateway'),
  applications: z
    .array(
      z.strictObject({
        name,
        /** Requests waiting now, and how long the oldest has. */
        queueLength: count,
        oldestWaitMs: ms,
        /** Mean wait of the requests sent on from the queue since start. */
        meanWaitMs: ms,
        /** Since start: waited past the time-out, refused as the queue was full. */
        timedOut: count,
        refused: count,
      }),
    )
    .max(10_000),
});

export const messageSchema = z.discriminatedUnion('type', [
  challengeSchema,
  authSchema,
  welcomeSchema,
  refusedSchema,
  batchSchema,
  factsSchema,
  figuresSchema,
  ackSchema,
  commandSchema,
  resultSchema,
  loadSchema,
  overridesSchema,
  overrideChangeSchema,
  gatewayFiguresSchema,
]);

export type Message = z.infer<typeof messageSchema>;
export type MessageOf<T extends Message['type']> = Extract<Message, { type: T }>;
export type RequestRecord = z.infer<typeof requestRecordSchema>;
export type SwitchyardEvent = z.infer<typeof eventSchema>;
export type Sample = z.infer<typeof sampleSchema>;
export type HostFacts = z.infer<typeof hostFactsSchema>;
export type ServerLoad = z.infer<typeof serverLoadSchema>;
export type OverrideChange = z.infer<typeof overrideChangeSchema>;
export type StoredOverridesMessage = z.infer<typeof overridesSchema>;
export type Command = z.infer<typeof command>;
export { componentId };

/** Largest message accepted on a link, bytes. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export type Parsed = { ok: true; message: Message } | { ok: false; error: string };

/**
 * Parses and validates one message. Never throws: a bad message gives a one-line reason
 * that names the field, for the receiver's log.
 *
 * @example
 * parseMessage('{"v":1,"type":"ack","seq":3}'); // { ok: true, message: { v: 1, type: 'ack', seq: 3 } }
 */
export function parseMessage(data: string | Buffer): Parsed {
  if (data.length > MAX_MESSAGE_BYTES)
    return { ok: false, error: `message larger than ${MAX_MESSAGE_BYTES} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (typeof json === 'object' && json !== null && 'v' in json && json.v !== PROTOCOL_VERSION) {
    return { ok: false, error: `protocol version ${String(json.v)}; this side speaks ${PROTOCOL_VERSION}` };
  }
  const r = messageSchema.safeParse(json);
  if (r.success) return { ok: true, message: r.data };
  const issue = r.error.issues[0]!;
  const where = issue.path.length > 0 ? issue.path.join('.') : 'message';
  return { ok: false, error: `${where}: ${issue.message}` };
}

/** Serialises a message; the one place outgoing messages are written. */
export function encodeMessage(m: Message): string {
  return JSON.stringify(m);
}
