import { isIP } from 'node:net';
import { z } from 'zod';
import { serverPageRules } from '../core/page-rules.js';
import { duration } from './duration.js';
import { proxySchema } from './gateway-schema.js';
import {
  agentSchema,
  isLoopbackHost,
  managerSchema,
  managerSpeaksTls,
  testPageSchema,
  thresholdSchema,
} from './monitoring-schema.js';

/**
 * The site file: one YAML file describes the whole site. This schema validates it, gives
 * its TypeScript type and, through `npm run docs:config`, writes docs/config.md. Unknown
 * keys are errors. Defaults are named constants so code and docs agree.
 *
 * Static keys (where the interceptor listens, its admin address) need a restart; everything
 * else reloads live (SIGHUP or `switchyard ctl reload`).
 */

export const DEFAULTS = {
  admin: '127.0.0.1:8081',
  obsolescenceTime: '3s',
  referralHalfLife: '1s',
  clientRoundTrip: '80ms',
  referralsPerUnit: 4,
  retryAfter: 10,
  maxConcurrent: 1000,
  maxUrlLength: 8192,
  maxHeaderBytes: 16384,
  headersTimeout: '10s',
  requestTimeout: '30s',
  keepAliveTimeout: '5s',
  sendTimeout: '10s',
  maxPipelined: 16,
  checkInterval: '2s',
  checkTimeout: '1s',
  checkPath: '/',
  rise: 2,
  fall: 3,
  capacity: 1,
  redirectStatus: 302,
  affinityCookie: 'sy_server',
} as const;

/**
 * A proxy application's default maxConcurrent: its requests stay in the gateway while their
 * servers work and while they wait in its admission queue, so 1,000 (the redirect default)
 * refused a flash crowd the servers cleared within a second (D58). This bounds memory and
 * file descriptors, far past any queue the servers clear within proxy.queueTimeout.
 */
export const PROXY_MAX_CONCURRENT = 20_000;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const name = (what: string) =>
  z
    .string()
    .regex(NAME_RE, 'expected a name of letters, digits, ".", "_" or "-" (at most 63)')
    .meta({ description: `Name of the ${what}, unique in the site file.` });

const hostPort = z
  .string()
  .refine((v) => parseHostPort(v) !== undefined, 'expected host:port, e.g. 127.0.0.1:8080 or [::1]:8080')
  .meta({ description: 'host:port to listen on.' });

/** Splits "host:port" ("[v6]:port" for IPv6). */
/** Longest page pattern in applications[].stateful, movable, fixed. */
const MAX_PAGE_PATTERN = 2048;
/** Most bytes of one server's page list: its set-rules line stays under the 64 KiB local limit. */
const MAX_RULES_BYTES = 48 * 1024;

export function parseHostPort(v: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(v);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

const httpUrl = (description: string) =>
  z
    .string()
    .refine((v) => {
      try {
        const u = new URL(v);
        return (
          (u.protocol === 'http:' || u.protocol === 'https:') &&
          !u.username &&
          !u.password &&
          !u.search &&
          !u.hash
        );
      } catch {
        return false;
      }
    }, 'expected an http:// or https:// URL without credentials, query or fragment')
    .meta({ description });

const cidr = z
  .string()
  .refine((v) => {
    const [addr, bits, ...rest] = v.split('/');
    if (rest.length > 0 || !addr) return false;
    const family = isIP(addr);
    if (family === 0) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return Number.isInteger(n) && n >= 0 && n <= (family === 4 ? 32 : 128);
  }, 'expected an IP address or CIDR block, e.g. 10.0.0.0/8')
  .meta({ description: 'An address or CIDR block.' });

const tls = z
  .strictObject({
    cert: z.string().min(1).meta({ description: 'PEM certificate chain file, relative to the site file.' }),
    key: z.string().min(1).meta({ description: 'PEM private key file, relative to the site file.' }),
  })
  .meta({ description: 'Serve TLS on this address. Both files are read again on reload.' });

const listenEntry = z.union([
  hostPort,
  z
    .strictObject({
      address: hostPort,
      tls: tls.optional(),
      http2: z.boolean().default(false).meta({
        description:
          'Serve HTTP/2 here: with tls, offered by ALPN beside HTTP/1.1; without, cleartext HTTP/2 only (h2c with prior knowledge, for clients and proxies configured for it).',
      }),
    })
    .meta({ description: 'An address, optionally with TLS and HTTP/2.' }),
]);

const healthCheck = z
  .strictObject({
    path: z
      .string()
      .startsWith('/', 'expected a path starting with "/"')
      .optional()
      .meta({ description: `Path to GET. Default "${DEFAULTS.checkPath}".` }),
    interval: duration('Time between checks.').optional(),
    timeout: duration('How long a check may take.').optional(),
    rise: z
      .number()
      .int()
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'Successes in a row that bring a server back.' }),
    fall: z
      .number()
      .int()
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'Failures in a row that take a server out.' }),
  })
  .meta({ description: 'Health checks. A check passes on a 2xx or 3xx answer within the timeout.' });

const server = z
  .strictObject({
    name: name('server'),
    url: httpUrl('Base URL for browsers and for checks (shorthand for public and internal).').optional(),
    public: z
      .strictObject({
        http: httpUrl('Base http:// URL browsers are sent to.').optional(),
        https: httpUrl('Base https:// URL browsers are sent to.').optional(),
      })
      .optional()
      .meta({ description: 'Addresses browsers are redirected to.' }),
    internal: httpUrl('Base URL the interceptor checks the server at (e.g. a private address).').optional(),
    capacity: z
      .number()
      .min(1)
      .max(10)
      .default(DEFAULTS.capacity)
      .meta({ description: 'Static capacity 1..10 (C = 1,000..10,000): the relative power of the server.' }),
    enabled: z.boolean().default(true).meta({ description: 'Whether the server takes new users.' }),
    healthCheck: z
      .union([z.literal(false), healthCheck])
      .optional()
      .meta({ description: 'Overrides the checks for this server; false turns them off.' }),
    testPage: testPageSchema.optional(),
    thresholds: z
      .array(thresholdSchema)
      .optional()
      .meta({ description: "This server's load levels, instead of manager.thresholds." }),
  })
  .meta({ description: 'One server: one URL. A server listening on several endpoints is several servers.' });

const application = z
  .strictObject({
    name: name('application'),
    match: z
      .strictObject({
        host: z
          .union([z.string(), z.array(z.string()).min(1)])
          .optional()
          .meta({ description: 'Host name(s) to match, exact or "*.example.com". Default: any host.' }),
        pathPrefix: z
          .string()
          .startsWith('/', 'expected a path starting with "/"')
          .default('/')
          .meta({ description: 'Path prefix; the longest matching prefix wins.' }),
      })
      .meta({ description: 'Which requests belong to this application.' }),
    servers: z
      .array(z.string())
      .min(1)
      .meta({ description: 'Names of the servers that serve this application.' }),
    enabled: z
      .boolean()
      .default(true)
      .meta({ description: 'A disabled application answers with its sorry page.' }),
    sorryPage: z
      .string()
      .optional()
      .meta({ description: 'HTML file sent with 503 when the application is off or no server can serve.' }),
    maxConcurrent: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({
        description: `Requests handled at once (the documents' thread count); past it, 503 at once. Default ${DEFAULTS.maxConcurrent} for a redirect application, whose requests take microseconds; ${PROXY_MAX_CONCURRENT} for a proxy application, whose requests stay until their server answers and may wait in its admission queue (proxy.queueLength, proxy.queueTimeout), so that a flash crowd the servers clear in time is not refused here (D58).`,
      }),
    redirectStatus: z
      .union([z.literal(302), z.literal(303), z.literal(307)])
      .default(DEFAULTS.redirectStatus)
      .meta({
        description: 'Status for GET and HEAD. Other methods always get 307 so the body is sent again.',
      }),
    secure: z.boolean().default(false).meta({ description: 'Send users only to https endpoints.' }),
    affinity: z.enum(['none', 'cookie']).default('none').meta({
      description: 'cookie: a returning browser goes back to its server while it is up and enabled.',
    }),
    affinityCookie: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .default(DEFAULTS.affinityCookie)
      .meta({ description: 'Name of the affinity cookie.' }),
    stateful: z
      .array(z.string())
      .optional()
      .meta({ description: 'Pages that hold state and are never moved ("/cart/*").' }),
    movable: z
      .array(z.string())
      .optional()
      .meta({ description: 'Only these pages may be moved to another server.' }),
    fixed: z
      .array(z.string())
      .optional()
      .meta({ description: 'These pages may not be moved to another server.' }),
    healthCheck: z
      .strictObject({
        path: z
          .string()
          .startsWith('/', 'expected a path starting with "/"')
          .meta({ description: 'Path to GET.' }),
      })
      .optional()
      .meta({ description: "Check path for this application's servers, unless a server sets its own." }),
    mode: z.enum(['redirect', 'proxy']).default('redirect').meta({
      description:
        'redirect: answer each new user with a redirect to the server that can serve it fastest (document 002). proxy: carry every request to a server and its answer back (the gateway, document 004; docs/gateway.md).',
    }),
    proxy: proxySchema.optional(),
  })
  .meta({ description: 'An application: a set of pages served by a set of servers.' });

const interceptor = z
  .strictObject({
    name: name('interceptor').optional().meta({
      description:
        "Name the interceptor gives the manager; unique among interceptors. Default: this host's name and the first listen port (web-1:8080). Leave it out when several interceptors share the site file; `switchyard interceptor --name` overrides it. Restart to change.",
    }),
    listen: z.union([listenEntry, z.array(listenEntry).min(1)]).meta({
      description:
        'Where browsers connect: host:port, or a list, each optionally with TLS. Restart to change.',
    }),
    admin: hostPort
      .default(DEFAULTS.admin)
      .meta({ description: 'Admin endpoint for ctl and /metrics. Restart to change.' }),
    adminTokenFile: z
      .string()
      .optional()
      .meta({ description: 'File holding the admin token, when SWITCHYARD_TOKEN is not set.' }),
    trustedProxies: z
      .array(cidr)
      .default([])
      .meta({ description: 'Proxies whose X-Forwarded-Proto and Forwarded headers are believed.' }),
    choice: z.enum(['queue', 'interval']).default('queue').meta({
      description:
        "queue: each user goes to the server with the shortest expected delay from the servers' own figures (with a manager), else the interval choice; interval: the document's weighted interval choice always.",
    }),
    obsolescenceTime: duration(
      'T: after this long without an update a dynamic load value is ignored.',
    ).prefault(DEFAULTS.obsolescenceTime),
    clientRoundTrip: duration(
      'How long a redirected browser takes to reach its server: the queue choice counts each referral against its server until figures measured this long after it arrive (a longer value only counts a referral a little longer; a shorter one forgets referrals still on their way). Raise it for users far away.',
    ).prefault(DEFAULTS.clientRoundTrip),
    measureRoundTrip: z.boolean().default(true).meta({
      description:
        "Learn the typical round trip from the servers' own figures (when the door's referrals show up there) and count referrals over twice that instead of clientRoundTrip, once about ten seconds of figures are in.",
    }),
    referralHalfLife: duration("How long a referral's weight on its server lasts (half-life).").prefault(
      DEFAULTS.referralHalfLife,
    ),
    referralsPerUnit: z.number().positive().default(DEFAULTS.referralsPerUnit).meta({
      description: 'Recent referrals above its share, per capacity unit, that take a weight to its floor.',
    }),
    retryAfter: z
      .number()
      .int()
      .min(0)
      .default(DEFAULTS.retryAfter)
      .meta({ description: 'Seconds in the Retry-After header of a 503.' }),
    accessLogSample: z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .meta({ description: 'Share of requests written to the log (0 = none, 1 = all).' }),
    maxUrlLength: z
      .number()
      .int()
      .min(64)
      .default(DEFAULTS.maxUrlLength)
      .meta({ description: 'Longer targets get 414.' }),
    maxHeaderBytes: z
      .number()
      .int()
      .min(1024)
      .default(DEFAULTS.maxHeaderBytes)
      .meta({ description: 'Larger headers get 431. Restart to change.' }),
    headersTimeout: duration('Time a client has to send its headers.').prefault(DEFAULTS.headersTimeout),
    requestTimeout: duration('Time a client has to send its whole request.').prefault(
      DEFAULTS.requestTimeout,
    ),
    keepAliveTimeout: duration('Idle time before a kept-alive connection is closed.').prefault(
      DEFAULTS.keepAliveTimeout,
    ),
    sendTimeout: duration(
      'Longest a connection may go without taking any of what it is sent (a client that stops reading its answers); then it is closed and its slots freed.',
    ).prefault(DEFAULTS.sendTimeout),
    maxPipelined: z.number().int().min(1).max(1000).default(DEFAULTS.maxPipelined).meta({
      description:
        'Answers one connection may have waiting unread (HTTP/1.1 pipelining) before it is closed: browsers pipeline none, and each waiting answer holds a slot of maxConcurrent.',
    }),
    healthCheck: z
      .strictObject({
        interval: duration('Time between checks.').prefault(DEFAULTS.checkInterval),
        timeout: duration('How long a check may take.').prefault(DEFAULTS.checkTimeout),
        rise: z
          .number()
          .int()
          .min(1)
          .max(100)
          .default(DEFAULTS.rise)
          .meta({ description: 'Successes to come back.' }),
        fall: z
          .number()
          .int()
          .min(1)
          .max(100)
          .default(DEFAULTS.fall)
          .meta({ description: 'Failures to go out.' }),
        enabled: z
          .boolean()
          .default(true)
          .meta({ description: 'Whether the interceptor checks servers itself.' }),
      })
      .prefault({})
      .meta({ description: 'Defaults for the checks the interceptor makes itself.' }),
  })
  .meta({ description: 'The front door.' });

export const siteSchema = z
  .strictObject({
    interceptor,
    servers: z.array(server).min(1).meta({ description: 'Every server of the site.' }),
    applications: z.array(application).min(1).meta({ description: 'Every application of the site.' }),
    manager: managerSchema.optional(),
    agents: z.array(agentSchema).default([]).meta({ description: 'The agents, one per host.' }),
  })
  .superRefine((site, ctx) => {
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const unknownServer = (s: string) =>
      `unknown server "${s}" (expected one of ${[...names.keys()].join(', ')})`;
    const ic = site.interceptor;
    if (ic.requestTimeout > 0 && ic.headersTimeout > ic.requestTimeout)
      issue(
        ['interceptor', 'headersTimeout'],
        `must not be longer than requestTimeout (${ic.requestTimeout} ms)`,
      );
    const names = new Map<string, number>();
    site.servers.forEach((s, i) => {
      if (names.has(s.name)) issue(['servers', i, 'name'], `duplicate server name "${s.name}"`);
      names.set(s.name, i);
      if (!s.url && !s.public?.http && !s.public?.https)
        issue(['servers', i], 'expected "url" or "public" with an http or https URL');
      if (s.public?.http && !s.public.http.startsWith('http:'))
        issue(['servers', i, 'public', 'http'], 'expected an http:// URL');
      if (s.public?.https && !s.public.https.startsWith('https:'))
        issue(['servers', i, 'public', 'https'], 'expected an https:// URL');
    });
    if (site.manager && !parseHostPort(site.manager.listen))
      issue(['manager', 'listen'], 'expected host:port, e.g. 127.0.0.1:7070');
    else if (site.manager) {
      // Links leave the machine only encrypted (D53).
      const m = site.manager;
      const host = parseHostPort(m.listen)!.host;
      if (m.tls === false && !isLoopbackHost(host))
        issue(
          ['manager', 'tls'],
          `links must use TLS when the manager listens on ${m.listen}, which is not a loopback address: remove "tls: false" (a certificate is generated on first start) or give your own`,
        );
      if (m.tls && (m.tls.cert === undefined) !== (m.tls.key === undefined))
        issue(['manager', 'tls'], 'give both cert and key, or neither (then both are generated)');
      if (m.url?.startsWith('ws:') && managerSpeaksTls(m))
        issue(
          ['manager', 'url'],
          'the manager speaks TLS here (manager.tls): components must dial a wss:// URL',
        );
    }
    // An overloaded server sends users to the interceptor's first address unless told where:
    // a wildcard address there would send browsers to http://0.0.0.0:80, which none can reach.
    if (site.manager && site.manager.redirectTarget === undefined) {
      const first = Array.isArray(ic.listen) ? ic.listen[0] : ic.listen;
      const addr = typeof first === 'string' ? first : first?.address;
      const host = addr ? parseHostPort(addr)?.host : undefined;
      if (host === '0.0.0.0' || host === '::' || host === '[::]')
        issue(
          ['manager', 'redirectTarget'],
          `required when the interceptor listens on ${addr} (every address): overloaded servers would send browsers to ${host === '0.0.0.0' ? 'http://0.0.0.0' : 'http://[::]'}, which none can reach; give the address users reach the interceptor at, e.g. http://www.example.com`,
        );
    }
    if (site.agents.length > 0 && !site.manager)
      issue(['agents'], 'agents need a "manager" section to report to');
    const agentNames = new Set<string>();
    const placed = new Map<string, string>();
    site.agents.forEach((a, i) => {
      if (agentNames.has(a.name)) issue(['agents', i, 'name'], `duplicate agent name "${a.name}"`);
      agentNames.add(a.name);
      a.servers.forEach((s, j) => {
        if (!names.has(s)) issue(['agents', i, 'servers', j], unknownServer(s));
        else if (placed.has(s))
          issue(['agents', i, 'servers', j], `server "${s}" is already on agent "${placed.get(s)}"`);
        placed.set(s, a.name);
      });
    });
    const apps = new Set<string>();
    site.applications.forEach((a, i) => {
      if (apps.has(a.name)) issue(['applications', i, 'name'], `duplicate application name "${a.name}"`);
      apps.add(a.name);
      a.servers.forEach((s, j) => {
        if (!names.has(s)) issue(['applications', i, 'servers', j], unknownServer(s));
      });
      if (a.proxy !== undefined && a.mode !== 'proxy')
        issue(
          ['applications', i, 'proxy'],
          'only for mode: proxy: a redirecting application never sees a request finish, so its choice is interceptor.choice',
        );
      const lists = (['stateful', 'movable', 'fixed'] as const).filter((k) => a[k] !== undefined);
      if (lists.length > 1) issue(['applications', i, lists[1]!], 'use only one of stateful, movable, fixed');
      for (const k of lists) {
        const list = a[k]!;
        const j = list.findIndex((p) => p.length > MAX_PAGE_PATTERN);
        if (j >= 0)
          issue(['applications', i, k, j], `a page pattern is at most ${MAX_PAGE_PATTERN} characters`);
      }
      for (const k of lists)
        a[k]!.forEach((p, j) => {
          if (
            !p.startsWith('/') ||
            (p.includes('*') && !(p.endsWith('/*') && p.indexOf('*') === p.length - 1))
          )
            issue(
              ['applications', i, k, j],
              'expected a path ("/checkout") or a path ending in "/*" ("/cart/*")',
            );
        });
    });
    // A server's page rules travel to its interface as one local line (D45, D48): they must fit.
    for (const name of names.keys()) {
      const rules = serverPageRules(site.applications, name);
      const bytes = Buffer.byteLength(JSON.stringify(rules.pages));
      if (bytes > MAX_RULES_BYTES) {
        const i = site.applications.findIndex((a) => a.servers.includes(name));
        issue(
          ['applications', i],
          `the page lists of server "${name}" come to ${bytes} bytes; at most ${MAX_RULES_BYTES} reach its interface: use patterns ending in "/*"`,
        );
      }
    }
  });

export type SiteInput = z.input<typeof siteSchema>;
export type Site = z.output<typeof siteSchema>;
export type ServerConfig = Site['servers'][number];
export type ApplicationConfig = Site['applications'][number];

/** Requests an application handles at once: its maxConcurrent, else its mode's default (D58). */
export function maxConcurrentOf(a: Pick<ApplicationConfig, 'maxConcurrent' | 'mode'>): number {
  return a.maxConcurrent ?? (a.mode === 'proxy' ? PROXY_MAX_CONCURRENT : DEFAULTS.maxConcurrent);
}
export type InterceptorConfig = Site['interceptor'];
export type {
  AgentConfig,
  ManagerConfig,
  TestPageConfig,
  ThresholdConfig,
} from './monitoring-schema.js';
