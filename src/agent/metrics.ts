import { Counter, Gauge, Registry } from 'prom-client';
import { collectNodeMetrics } from '../node-metrics.js';

/** What the agent's /metrics reads at each scrape (the agent's own state, no copies kept). */
export interface AgentReadings {
  connected(): boolean;
  /** Records, events and samples waiting for the manager's acknowledgement. */
  waiting(): number;
  /** Records not yet in a batch. */
  batching(): number;
  spoolBytes(): number;
  /** Items dropped because the outbox was full, since start. */
  dropped(): number;
  /** Batches sent again because the manager asked. */
  resent(): number;
  /** Interface processes connected. */
  interfaces(): number;
  /** Local lines and records refused, since start. */
  invalid(): number;
  /** Hellos refused for want of the local key's proof, since start. */
  refusedHellos(): number;
  /** The report interval in use, ms: the setting, or less for fast servers. */
  reportEvery(): number;
}

/**
 * The agent's Prometheus metrics (issue 29): its buffer and spool, drops, its link to the
 * manager and its redials, its interfaces, and what it refused. Gauges are read when scraped.
 */
export function createAgentMetrics(r: AgentReadings) {
  const registry = new Registry();
  collectNodeMetrics(registry);
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge('switchyard_agent_manager_connected', '1 while the link to the manager is up.', () =>
    r.connected() ? 1 : 0,
  );
  gauge(
    'switchyard_agent_outbox_items',
    "Records, events and samples waiting for the manager's acknowledgement.",
    r.waiting,
  );
  gauge('switchyard_agent_batching_records', 'Records not yet in a batch.', r.batching);
  gauge('switchyard_agent_spool_bytes', 'Size of the spool file on disk.', r.spoolBytes);
  gauge(
    'switchyard_agent_dropped_items',
    'Items dropped because the outbox was full, since start.',
    r.dropped,
  );
  gauge(
    'switchyard_agent_resent_batches',
    'Batches sent again because the manager asked, since start.',
    r.resent,
  );
  gauge('switchyard_agent_interfaces', 'Interface processes connected.', r.interfaces);
  gauge('switchyard_agent_local_invalid', 'Local lines and records refused, since start.', r.invalid);
  gauge(
    'switchyard_agent_local_refused_hellos',
    "Hellos refused for want of the agent's key, since start.",
    r.refusedHellos,
  );
  gauge(
    'switchyard_agent_report_interval_seconds',
    "How often the agent relays its servers' figures now: the setting, or half the fastest server's service time.",
    () => r.reportEvery() / 1000,
  );
  const redials = new Counter({
    name: 'switchyard_agent_manager_link_drops_total',
    help: 'Times the link to the manager went down (each is followed by redials).',
    registers: [registry],
  });
  const records = new Counter({
    name: 'switchyard_agent_records_total',
    help: 'Request records received from interfaces.',
    registers: [registry],
  });
  return { registry, redials, records };
}
