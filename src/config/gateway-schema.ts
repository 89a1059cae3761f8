import { z } from 'zod';
import { duration } from './duration.js';

/**
 * An application's gateway settings (`applications[].proxy`, issue 30, document 004): how the
 * interceptor proxies it when its `mode` is `proxy`. Refused on a redirect application, which
 * never sees a request finish, so none of this could apply there.
 */

export const PROXY_DEFAULTS = {
  choice: 'least-delay',
  connections: 32,
  connectTimeout: '5s',
  responseTimeout: '30s',
  idleTimeout: '60s',
  retries: 1,
  retryBudget: 0.2,
  serverLimit: 'slots',
  serverQueue: 3,
  consecutiveFailures: 5,
  ejectFor: '30s',
  maxEjected: 0.5,
  slowStart: '30s',
  queueLength: 10_000,
  queueTimeout: '5s',
} as const;

/** Ways a gateway picks a server; every one needs completions, so proxy mode only. */
export const PROXY_CHOICES = [
  'least-request',
  'least-delay',
  'peak-ewma',
  'interval',
  'round-robin',
] as const;
export type ProxyChoice = (typeof PROXY_CHOICES)[number];

export const proxySchema = z
  .strictObject({
    choice: z.enum(PROXY_CHOICES).default(PROXY_DEFAULTS.choice).meta({
      description:
        "How a server is picked: least-delay (the default: the server where a new request would be done soonest, from its whole load, this gateway's requests and what its figures say others have there, over its slots, times its service time; least-request without fresh figures), least-request (two random servers, the one with fewer requests in flight for its capacity, others' requests from its figures counted), peak-ewma (two random servers, the one whose in-flight requests times its recent latency, peak-weighted, is lower), interval (document 002's interval choice on the load metric LM, as redirect applications choose), round-robin (in turn, by capacity).",
    }),
    connections: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(PROXY_DEFAULTS.connections)
      .meta({ description: 'Keep-alive connections to each server, at most (the channels of claim 2).' }),
    connectTimeout: duration('How long connecting to a server may take before another is tried.').prefault(
      PROXY_DEFAULTS.connectTimeout,
    ),
    responseTimeout: duration(
      "How long a server may take to send its response's headers before the client gets 504.",
    ).prefault(PROXY_DEFAULTS.responseTimeout),
    idleTimeout: duration(
      'How long a response body may pause, or a request body wait to be taken, before the exchange is cut.',
    ).prefault(PROXY_DEFAULTS.idleTimeout),
    retries: z.number().int().min(0).max(5).default(PROXY_DEFAULTS.retries).meta({
      description:
        'Tries on another server for a request that never reached one, or an idempotent one without a body that failed before any byte came back.',
    }),
    retryBudget: z.number().min(0).max(1).default(PROXY_DEFAULTS.retryBudget).meta({
      description:
        'Retries allowed as a share of the recent requests (at least 3 a second), so retries never pile on an outage.',
    }),
    consecutiveFailures: z.number().int().min(0).max(1000).default(PROXY_DEFAULTS.consecutiveFailures).meta({
      description:
        'Failures in a row (no connection, no answer, a 5xx) that eject a server for a while (outlier detection); 0 never ejects.',
    }),
    ejectFor: duration(
      'How long an ejected server is left out, times the times it was ejected before (at most ten); then one request probes it.',
    ).prefault(PROXY_DEFAULTS.ejectFor),
    maxEjected: z.number().min(0).max(1).default(PROXY_DEFAULTS.maxEjected).meta({
      description: "The share of an application's servers that may be ejected at once.",
    }),
    slowStart: duration(
      'A server that joins or comes back starts at a tenth of its capacity and reaches all of it over this time; 0 turns slow start off.',
    ).prefault(PROXY_DEFAULTS.slowStart),
    serverLimit: z
      .union([
        z.literal('slots'),
        z.literal('adaptive'),
        z.literal('none'),
        z.number().int().min(1).max(100_000),
      ])
      .default(PROXY_DEFAULTS.serverLimit)
      .meta({
        description:
          "Requests in flight at one server, at most; more wait in the application's admission queue. slots: the slots its interface reports (no limit until it has), so requests wait here, free to go to whichever server frees a place first, rather than in one server's queue; adaptive: found per server by a gradient controller (the concurrency past which its latency rises more than a quarter over its latency with almost nothing in flight, measured every 30 s or so; core/adaptive-limit.ts); a number: that many; none: no limit. slots is the default: in the lab it took the gateway's p99 from 161 to 116 ms in uneven and from 174 to 140 in degrade (two runs each, D54).",
      }),
    serverQueue: z.number().min(0).max(100).default(PROXY_DEFAULTS.serverQueue).meta({
      description:
        "With serverLimit: slots, requests a server may also have waiting in its own queue, per slot: its limit is its slots times one plus this, less the requests its figures say others (other gateways and doors, clients that go around them) have there. 0 keeps every request the servers cannot start at once here; the default 3 lets each server queue about three service times' work, so a server seldom waits for the gateway to hear a slot freed, even in an overload, and keeps a slowed server from holding more than that (D57, D60).",
    }),
    queueLength: z.number().int().min(0).max(1_000_000).default(PROXY_DEFAULTS.queueLength).meta({
      description:
        'Requests that may wait in the admission queue at once; past it, 503 at once. A guard for memory and file descriptors, not the bound that matters: queueTimeout is (as HAProxy bounds its queue by `timeout queue` alone). At 1,000 a flash crowd the servers cleared in about a second was refused (D58).',
    }),
    queueTimeout: duration(
      'How long a request may wait in the admission queue before it gets 503 with Retry-After.',
    ).prefault(PROXY_DEFAULTS.queueTimeout),
  })
  .meta({ description: 'How a proxied application (mode: proxy) reaches its servers.' });

export type ProxyConfig = z.infer<typeof proxySchema>;

/** The settings of an application, with the defaults where it gives none. */
export function proxySettings(given: ProxyConfig | undefined): ProxyConfig {
  return given ?? proxySchema.parse({});
}
