import { Counter, Gauge, Registry } from 'prom-client';
import { collectNodeMetrics } from '../node-metrics.js';
import type { ServerState } from './site-state.js';
import { Tally } from './tally.js';

/** What the figure gauges read at scrape time: the servers as the picks see them, and now. */
export interface FiguresSource {
  servers(): Iterable<ServerState>;
  now(): number;
}

/**
 * The interceptor's Prometheus metrics. Labelled children are looked up once and cached by
 * the caller (see handler.ts): a label lookup per request would cost more than the pick.
 * The manager's figures are read when scraped, never per request or per push.
 */
/** The gateway's admission queues, read at each scrape. */
export interface QueuesSource {
  queues(): Array<{
    application: string;
    length: number;
    oldestWaitMs: number;
    sent: number;
    waitedMs: number;
    timedOut: number;
    refused: number;
  }>;
}

export function createInterceptorMetrics(figures?: FiguresSource, gateway?: () => QueuesSource | undefined) {
  const registry = new Registry();
  // The two per-request counters are tallied as plain numbers and folded in when read.
  const requestTally = new Tally<'application' | 'server' | 'status'>();
  const pickTally = new Tally<'server'>();
  collectNodeMetrics(registry);
  const requests = new Counter({
    name: 'switchyard_interceptor_requests_total',
    help: 'Requests answered, by application, server chosen ("-" when none) and status.',
    labelNames: ['application', 'server', 'status'] as const,
    registers: [registry],
    collect() {
      requestTally.flushInto(this);
    },
  });
  const picks = new Counter({
    name: 'switchyard_interceptor_picks_total',
    help: 'Referrals to each server.',
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      pickTally.flushInto(this);
    },
  });
  const refusals = new Counter({
    name: 'switchyard_interceptor_refusals_total',
    help: 'Requests refused, by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const serverUp = new Gauge({
    name: 'switchyard_interceptor_server_up',
    help: '1 when the server passes its checks (or is not checked), else 0.',
    labelNames: ['server'] as const,
    registers: [registry],
  });
  const serverEnabled = new Gauge({
    name: 'switchyard_interceptor_server_enabled',
    help: '1 when the server is enabled, else 0.',
    labelNames: ['server'] as const,
    registers: [registry],
  });
  const reloads = new Counter({
    name: 'switchyard_interceptor_reloads_total',
    help: 'Site file reloads, by result.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const adminRequests = new Counter({
    name: 'switchyard_interceptor_admin_requests_total',
    help: 'Admin endpoint requests, by status.',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  // The figures the picks rest on, as this interceptor holds them: what an operator checks
  // when the balancing looks wrong, and how the lab measures the report lag (a queue at a
  // server until it shows here). Servers the manager has said nothing about are left out.
  const managed = (
    name: string,
    help: string,
    value: (m: NonNullable<ServerState['managed']>, now: number) => number | undefined,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['server'] as const,
      registers: [registry],
      collect() {
        this.reset();
        if (!figures) return;
        const now = figures.now();
        for (const s of figures.servers()) {
          const v = s.managed ? value(s.managed, now) : undefined;
          if (v !== undefined) this.labels(s.name).set(v);
        }
      },
    });
  managed(
    'switchyard_interceptor_server_load_value',
    "The manager's dynamic load value L (0..10000).",
    (m) => m.L,
  );
  managed(
    'switchyard_interceptor_server_queue_length',
    "Requests waiting in the server's queue, in the figures held.",
    (m) => m.figures?.queueLength,
  );
  managed(
    'switchyard_interceptor_server_busy_slots',
    'Requests inside the server (slots busy), in the figures held.',
    (m) => m.figures?.busy,
  );
  managed(
    'switchyard_interceptor_server_figures_age_seconds',
    "Seconds since the server's figures held were measured at the server.",
    (m, now) => Math.max(0, now - m.measuredAt) / 1000,
  );
  // The gateway's (proxy mode, issue 30): what went wrong with each server, and retries.
  const upstreamFailures = new Counter({
    name: 'switchyard_interceptor_upstream_failures_total',
    help: 'Proxied requests a server failed (connect, connect-timeout, response-timeout, body-timeout, closed, invalid, other).',
    labelNames: ['server', 'kind'] as const,
    registers: [registry],
  });
  const ejections = new Counter({
    name: 'switchyard_interceptor_ejections_total',
    help: 'Servers ejected by a proxy application as outliers (failures in a row), by server.',
    labelNames: ['server'] as const,
    registers: [registry],
  });
  const retries = new Counter({
    name: 'switchyard_interceptor_retries_total',
    help: 'Proxied requests tried again on another server, by application.',
    labelNames: ['application'] as const,
    registers: [registry],
  });
  const queueGauge = (
    name: string,
    help: string,
    value: (q: ReturnType<QueuesSource['queues']>[number]) => number,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['application'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const q of gateway?.()?.queues() ?? []) this.labels(q.application).set(value(q));
      },
    });
  queueGauge(
    'switchyard_interceptor_queue_length',
    "Requests waiting in a proxy application's admission queue.",
    (q) => q.length,
  );
  queueGauge(
    'switchyard_interceptor_queue_oldest_wait_seconds',
    'How long the oldest waiting request has waited.',
    (q) => q.oldestWaitMs / 1000,
  );
  queueGauge(
    'switchyard_interceptor_queue_sent',
    'Requests sent on from the admission queue, since start.',
    (q) => q.sent,
  );
  queueGauge(
    'switchyard_interceptor_queue_wait_seconds_sum',
    'Time the requests sent on from the queue waited in all, since start.',
    (q) => q.waitedMs / 1000,
  );
  queueGauge(
    'switchyard_interceptor_queue_timeouts',
    'Requests that waited past queueTimeout (503), since start.',
    (q) => q.timedOut,
  );
  queueGauge(
    'switchyard_interceptor_queue_refused',
    'Requests refused because the queue was full (503), since start.',
    (q) => q.refused,
  );
  return {
    registry,
    upstreamFailures,
    ejections,
    retries,
    requests,
    requestTally,
    picks,
    pickTally,
    refusals,
    serverUp,
    serverEnabled,
    reloads,
    adminRequests,
  };
}

export type InterceptorMetrics = ReturnType<typeof createInterceptorMetrics>;

/** Reasons a request is refused; each has its own counter child. */
export const REFUSAL_REASONS = [
  'bad-request',
  'uri-too-long',
  'no-application',
  'app-disabled',
  'no-server',
  'overloaded',
  'header-too-large',
  'client-error',
  'pipelined',
  'send-timeout',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];
