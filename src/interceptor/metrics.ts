import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { Tally } from './tally.js';

/**
 * The interceptor's Prometheus metrics. Labelled children are looked up once and cached by
 * the caller (see handler.ts): a label lookup per request would cost more than the pick.
 */
export function createInterceptorMetrics() {
  const registry = new Registry();
  // The two per-request counters are tallied as plain numbers and folded in when read.
  const requestTally = new Tally<'application' | 'server' | 'status'>();
  const pickTally = new Tally<'server'>();
  collectDefaultMetrics({ register: registry, prefix: 'switchyard_interceptor_process_' });
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
  return {
    registry,
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
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];
