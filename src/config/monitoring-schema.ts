import { z } from 'zod';
import { FIELD_NAMES } from '../protocol/local-record.js';
import { duration } from './duration.js';

/**
 * The monitoring plane's sections of the site file: `manager`, `agents`, and the per-server
 * `testPage` and `thresholds`. Without a `manager` section the interceptor runs alone on
 * static capacities, as before; with one, every component dials the manager.
 */

export const MONITORING_DEFAULTS = {
  managerListen: '127.0.0.1:7070',
  dataDir: './switchyard-data',
  reportInterval: '25ms',
  heartbeat: '1s',
  grace: '10s',
  retention: '7d',
  averageWindow: '60s',
  loadBasis: 'queueDelay',
  hysteresis: 0.2,
  hold: '2s',
  redirectLease: '1s',
  perfInterval: '10s',
  probeInterval: '10s',
  batchRecords: 100,
  batchBytes: 8192,
  batchAge: '30s',
  maxBuffered: 100_000,
  spoolBytes: 64 * 1024 * 1024,
  testPageInterval: '5s',
  testPageTimeout: '2s',
} as const;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const thresholdSchema = z
  .strictObject({
    metric: z.enum(['queueLength', 'queueDelay', 'cpu', 'memory']).meta({
      description: 'queueLength: waiting per slot; queueDelay: ms; cpu, memory: share 0..1 of the host.',
    }),
    heavy: z
      .number()
      .min(0)
      .optional()
      .meta({ description: 'Reading at which the interceptor stops sending the server new users.' }),
    max: z
      .number()
      .min(0)
      .optional()
      .meta({ description: "Reading at which the server's interface redirects stateless users away." }),
  })
  .refine((t) => t.heavy !== undefined || t.max !== undefined, 'expected "heavy", "max" or both')
  .refine((t) => t.heavy === undefined || t.max === undefined || t.heavy <= t.max, {
    message: '"heavy" must not be above "max"',
    path: ['heavy'],
  })
  .meta({ description: 'A load level threshold on one reading.' });

export const DEFAULT_THRESHOLDS: z.output<typeof thresholdSchema>[] = [
  { metric: 'queueDelay', heavy: 500, max: 2000 },
];

export const testPageSchema = z
  .strictObject({
    path: z
      .string()
      .startsWith('/', 'expected a path starting with "/"')
      .meta({ description: 'Page to GET.' }),
    status: z.number().int().min(100).max(599).default(200).meta({ description: 'Status expected.' }),
    contains: z
      .string()
      .max(1024)
      .optional()
      .meta({ description: 'Text the body must contain (e.g. a word only a working database puts there).' }),
    interval: duration('Time between checks.').prefault(MONITORING_DEFAULTS.testPageInterval),
    timeout: duration('How long a check may take.').prefault(MONITORING_DEFAULTS.testPageTimeout),
  })
  .meta({ description: "The agent's synthetic check of this server: a page fetched and verified." });

export const managerSchema = z
  .strictObject({
    listen: z.string().default(MONITORING_DEFAULTS.managerListen).meta({
      description:
        'host:port of the manager: /link for components, /metrics, /healthz. Restart to change. Keep the port below the ephemeral range (32768 on Linux), where components dialling it cannot take it first.',
    }),
    url: z
      .string()
      .regex(/^wss?:\/\/[^\s?#]+$/, 'expected a ws:// or wss:// URL')
      .optional()
      .meta({
        description: 'URL components dial. Default: ws://LISTEN/link, or wss:// when the manager speaks TLS.',
      }),
    tls: z
      .union([
        z.literal(false),
        z.strictObject({
          cert: z
            .string()
            .optional()
            .meta({ description: "The manager's certificate (PEM), with its chain." }),
          key: z.string().optional().meta({ description: "The certificate's private key (PEM)." }),
          ca: z.string().optional().meta({
            description:
              "The CA components trust for the manager's certificate (PEM). Default: the generated site CA when the certificate is generated, else the system's CAs.",
          }),
        }),
      ])
      .optional()
      .meta({
        description:
          "TLS for the links and the manager's HTTP endpoints (docs/security.md). Default: off on a loopback address, on anywhere else, with a site CA and a certificate generated on first start in .switchyard/tls/ beside the site file. {} turns it on with generated files; false turns it off, allowed on loopback only.",
      }),
    keys: z
      .strictObject({
        mark: z.string().optional().meta({
          description:
            'File holding the key that signs redirect marks; every web server interface and interceptor holds it, and it opens nothing else. Default: SWITCHYARD_MARK_KEY, else .switchyard/mark-key beside the site file (generated on first start).',
        }),
        agent: z.string().optional().meta({
          description:
            'File holding the key agents prove to the manager. Default: SWITCHYARD_AGENT_KEY, else .switchyard/agent-key (generated on first start).',
        }),
        interceptor: z.string().optional().meta({
          description:
            'File holding the key interceptors prove to the manager. Default: SWITCHYARD_INTERCEPTOR_KEY, else .switchyard/interceptor-key (generated on first start).',
        }),
      })
      .optional()
      .meta({
        description: 'One key per job (docs/security.md): the mark key, and one credential per role.',
      }),
    secretFile: z
      .unknown()
      .refine((v) => v === undefined, {
        message:
          'the one site secret is gone: give each job its own key under manager.keys (mark, agent, interceptor); see docs/security.md',
      })
      .optional()
      .meta({ description: 'Removed (D52): see manager.keys.' }),
    dataDir: z
      .string()
      .default(MONITORING_DEFAULTS.dataDir)
      .meta({ description: "Directory of the manager's SQLite store, relative to the site file." }),
    reportInterval: duration(
      "How often agents send queue figures and the manager pushes load values: the report lag. An agent whose fastest server answers in under twice this reports every half of that server's mean service time instead (at least every 5 ms), so a door's picture stays under half a service time old.",
    ).prefault(MONITORING_DEFAULTS.reportInterval),
    heartbeat: duration('A link silent this long is pinged; three times this long, it is lost.').prefault(
      MONITORING_DEFAULTS.heartbeat,
    ),
    grace: duration(
      'After the manager starts, how long agents have to connect before each missing one is reported (event agent.missing).',
    ).prefault(MONITORING_DEFAULTS.grace),
    retention: duration('Request records, samples and events older than this are deleted.').prefault(
      MONITORING_DEFAULTS.retention,
    ),
    averageWindow: duration(
      'Time constant of the longer-run average of L sent with each value (shown in status).',
    ).prefault(MONITORING_DEFAULTS.averageWindow),
    load: z
      .strictObject({
        basis: z
          .enum(['queueDelay', 'totalTime', 'queueLength', 'errorRate'])
          .default(MONITORING_DEFAULTS.loadBasis)
          .meta({ description: 'What L is computed from.' }),
        reference: z.number().positive().optional().meta({
          description:
            'The figure that gives L = 5,000. Defaults: queueDelay 100 ms, totalTime 200 ms, queueLength 1 per slot, errorRate 0.05.',
        }),
      })
      .prefault({})
      .meta({ description: 'How the dynamic load value L is computed.' }),
    thresholds: z
      .array(thresholdSchema)
      .default(DEFAULT_THRESHOLDS)
      .meta({ description: 'Load levels for every server, unless a server sets its own.' }),
    hysteresis: z
      .number()
      .min(0)
      .max(0.9)
      .default(MONITORING_DEFAULTS.hysteresis)
      .meta({ description: 'A level is left when the reading falls this share below its threshold.' }),
    hold: duration('Least time a level holds before it may fall.').prefault(MONITORING_DEFAULTS.hold),
    redirectTarget: z
      .string()
      .regex(/^https?:\/\/[^\s?#]+$/, 'expected an http:// or https:// URL')
      .optional()
      .meta({
        description: "Where an overloaded server sends users. Default: the interceptor's first address.",
      }),
    redirectLease: duration(
      'How long an interface told to redirect does so without hearing from the manager again; the manager renews it three times a lease. A manager that dies leaves no server bouncing users for longer (D45).',
    ).prefault(MONITORING_DEFAULTS.redirectLease),
  })
  .meta({
    description: 'The manager: store, load values, thresholds. Without it the interceptor runs alone.',
  });

export const agentSchema = z
  .strictObject({
    name: z
      .string()
      .regex(NAME_RE, 'expected a name of letters, digits, ".", "_" or "-" (at most 63)')
      .meta({ description: 'Name of the agent (usually the host name).' }),
    socket: z
      .string()
      .min(1)
      .meta({ description: 'Unix socket the interfaces on the host dial, relative to the site file.' }),
    servers: z.array(z.string()).default([]).meta({ description: 'Servers on this host.' }),
    perfInterval: duration('How often host performance (CPU, memory, network, disk) is sampled.').prefault(
      MONITORING_DEFAULTS.perfInterval,
    ),
    probeInterval: duration('How often each server is probed (FIG. 4/5); 0 turns probing off.').prefault(
      MONITORING_DEFAULTS.probeInterval,
    ),
    batch: z
      .strictObject({
        records: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(MONITORING_DEFAULTS.batchRecords)
          .meta({ description: 'Records in a full batch.' }),
        bytes: z
          .number()
          .int()
          .min(256)
          .max(4 * 1024 * 1024)
          .default(MONITORING_DEFAULTS.batchBytes),
        age: duration('Longest a record waits for its batch.').prefault(MONITORING_DEFAULTS.batchAge),
      })
      .prefault({})
      .meta({
        description: 'A batch of records goes when it holds this many, this many bytes, or is this old.',
      }),
    fields: z
      .array(z.enum(FIELD_NAMES))
      .refine((a) => new Set(a).size === a.length, 'a field is named twice')
      .default([...FIELD_NAMES])
      .meta({
        description:
          'The optional fields of each request record (document 002 Table 3), set in every interface of the host when it connects. Start, method, path, status, queue wait and service time are always there. Each field costs the server a little CPU a request (BENCHMARKS.md); without `query` the probe gives response time only. Default: all of them.',
      }),
    maxBuffered: z.number().int().min(100).default(MONITORING_DEFAULTS.maxBuffered).meta({
      description:
        'Records, events and samples kept until the manager has stored them (while it is away or slow, too); past it, or past half of `spoolBytes`, the oldest are dropped, counted and reported as a gap (the `agent.buffer-overflow` event, and a `records.lost` event at the manager).',
    }),
    spoolBytes: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(MONITORING_DEFAULTS.spoolBytes)
      .meta({
        description:
          "Bytes the agent's spool file takes at most (D44; default 64 MiB). What the agent holds for the manager is kept to half of it, as encoded (past that the oldest batches are dropped, as past `maxBuffered`); the file is compacted before it passes the bound, so it stays within it, plus the lines appended since the last batch.",
      }),
    metrics: z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:7071')
      .default('127.0.0.1:0')
      .meta({
        description:
          "host:port of the agent's /metrics (Prometheus) and /healthz. Default: a free port on 127.0.0.1, said in the agent's first log line.",
      }),
    spoolDir: z.string().min(1).optional().meta({
      description:
        "Directory of the agent's spool, relative to the site file: what it holds for the manager, on disk, so a crash loses nothing (D44). Default: agent-NAME under manager.dataDir.",
    }),
  })
  .meta({ description: 'One agent per host.' });

export type ManagerConfig = z.output<typeof managerSchema>;
export type AgentConfig = z.output<typeof agentSchema>;
export type ThresholdConfig = z.output<typeof thresholdSchema>;
export type TestPageConfig = z.output<typeof testPageSchema>;

/** The URL components dial: manager.url, or ws://LISTEN/link. */
export function managerLinkUrl(m: ManagerConfig): string {
  return m.url ?? `${managerSpeaksTls(m) ? 'wss' : 'ws'}://${m.listen}/link`;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Whether a host name or address is this machine's loopback (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Whether the manager speaks TLS (D53): as manager.tls says, else on unless it listens on
 * loopback only; links must be encrypted whenever they can leave the machine.
 */
export function managerSpeaksTls(m: Pick<ManagerConfig, 'tls' | 'listen'>, listen = m.listen): boolean {
  if (m.tls === false) return false;
  if (m.tls) return true;
  const i = listen.lastIndexOf(':');
  return !isLoopbackHost(listen.slice(0, i).replace(/^\[|\]$/g, ''));
}
