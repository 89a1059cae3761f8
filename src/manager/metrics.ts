import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectNodeMetrics } from '../node-metrics.js';

/** The manager's Prometheus metrics, served at /metrics. */
export function createManagerMetrics() {
  const registry = new Registry();
  collectNodeMetrics(registry);
  const g = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry] });
  const c = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    links: g('switchyard_manager_links', 'Components connected now, by role.', ['role'] as const),
    replaced: c(
      'switchyard_manager_links_replaced_total',
      'Connections replaced by a newer one under the same name, by role.',
      ['role'] as const,
    ),
    refused: c('switchyard_manager_refused_total', 'Connections and messages refused, by reason.', [
      'reason',
    ] as const),
    batches: c(
      'switchyard_manager_batches_total',
      'Batches received, by outcome (stored, duplicate, out-of-order, failed).',
      ['outcome'] as const,
    ),
    stored: c('switchyard_manager_stored_rows_total', 'Rows stored, by kind (records, events, samples).', [
      'kind',
    ] as const),
    lost: c(
      'switchyard_manager_lost_items_total',
      'Records, events and samples senders said they dropped before the manager stored them (their outbox overflowed).',
    ),
    storeUp: g(
      'switchyard_manager_store_up',
      'Store health: 1 ok, 0 failing (its last write failed), -1 down (its thread is being started again).',
    ),
    storeQueued: g('switchyard_manager_store_queued', 'Store calls asked and not yet answered.'),
    storeRestarts: c('switchyard_manager_store_restarts_total', 'Times the store thread was started again.'),
    ingestSeconds: new Histogram({
      name: 'switchyard_manager_ingest_seconds',
      help: 'Time from receiving a batch to acknowledging it (stored in the store thread).',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    figures: c('switchyard_manager_figures_total', 'Server figures received from agents.'),
    figuresAge: new Histogram({
      name: 'switchyard_manager_figures_age_seconds',
      help: 'Age of server figures when they reached the manager.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers: [registry],
    }),
    loadValue: g('switchyard_manager_server_load_value', 'Dynamic load value L of each server (0..10,000).', [
      'server',
    ] as const),
    level: g('switchyard_manager_server_level', 'Load level of each server: 0 normal, 1 heavy, 2 max.', [
      'server',
    ] as const),
    failed: g('switchyard_manager_server_failed', '1 when there is positive evidence the server is down.', [
      'server',
    ] as const),
    redirecting: g(
      'switchyard_manager_server_redirecting',
      "1 while the server's interface is told to redirect.",
      ['server'] as const,
    ),
    swamped: g('switchyard_manager_application_swamped', '1 while the application is swamped.', [
      'application',
    ] as const),
    adminRequests: c('switchyard_manager_admin_requests_total', 'Admin (ctl) requests, by HTTP status.', [
      'status',
    ] as const),
    events: c('switchyard_manager_events_total', 'Events raised by the manager, by code.', ['code'] as const),
  };
}

export type ManagerMetrics = ReturnType<typeof createManagerMetrics>;
