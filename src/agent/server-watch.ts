import type { Site } from '../config/schema.js';
import type { Clock } from '../core/random.js';
import type { Logger } from '../log/logger.js';
import type { RequestRecord, Sample, SwitchyardEvent } from '../protocol/messages.js';
import { Prober } from './probe.js';
import { checkPage } from './synthetic-check.js';

/**
 * What the agent finds out about its servers by itself, apart from their interfaces' figures:
 *
 * - the synthetic check of each server's test page (servers[].testPage): a failing page is
 *   positive evidence the server is down, even with its process up;
 * - an interface that disconnected (the server process ended);
 * - the slow FIG. 4/5 probe, whose queue delay, service time and requests ahead become
 *   samples that cross-check the interface's counters (for a server without an interface,
 *   its response time alone).
 *
 * @example
 * const w = new ServerWatch({ site, servers: ['web-a'], probeInterval: 10_000, clock, log, event });
 * w.start(); w.downReason('web-a'); // undefined while the page passes
 */

export interface ServerWatchOptions {
  site: Site;
  servers: readonly string[];
  probeInterval: number;
  clock: Clock;
  log: Logger;
  event(source: string, code: string, level: SwitchyardEvent['level'], text: string): void;
}

/** Test page failures in a row that make a server down. */
const FAILURES_TO_DOWN = 2;

type PendingSample = Omit<Sample, 'startAge' | 'stopAge'> & { start: number; stop: number };

export class ServerWatch {
  /** Servers whose interface disconnected and has not come back. */
  readonly gone = new Set<string>();
  private readonly failing = new Map<string, string>();
  private readonly failures = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly prober: Prober;
  private samples: PendingSample[] = [];
  private stopped = false;

  constructor(private readonly o: ServerWatchOptions) {
    this.prober = new Prober({ timeout: 5000, clock: o.clock });
  }

  onRecord(r: RequestRecord): void {
    this.prober.onRecord(r);
  }

  /** Why the agent holds the server to be down, or undefined. */
  downReason(server: string): string | undefined {
    if (this.gone.has(server)) return 'its interface disconnected';
    return this.failing.get(server);
  }

  drainSamples(): PendingSample[] {
    const s = this.samples;
    this.samples = [];
    return s;
  }

  start(): void {
    for (const name of this.o.servers) {
      const cfg = this.o.site.servers.find((s) => s.name === name);
      if (!cfg) continue;
      const base = (cfg.internal ?? cfg.url ?? cfg.public?.http ?? cfg.public?.https ?? '').replace(
        /\/+$/,
        '',
      );
      if (cfg.testPage) {
        const page = cfg.testPage;
        const run = () => void this.check(name, base + page.path, page);
        this.timers.push(setInterval(run, page.interval));
        run();
      }
      if (this.o.probeInterval > 0) {
        const path = cfg.testPage?.path ?? '/';
        this.timers.push(setInterval(() => void this.probe(name, base, path), this.o.probeInterval));
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
  }

  private async check(
    server: string,
    url: string,
    page: { status: number; contains?: string; timeout: number },
  ) {
    const r = await checkPage({ url, status: page.status, contains: page.contains, timeout: page.timeout });
    if (this.stopped) return;
    const was = this.failing.get(server);
    if (!r.ok) {
      // One failure may be a blip (or a server still starting): two in a row are evidence.
      const n = (this.failures.get(server) ?? 0) + 1;
      this.failures.set(server, n);
      if (n < FAILURES_TO_DOWN) return;
      if (was === undefined)
        this.o.event(
          server,
          'server.test-page-failed',
          'error',
          `test page of ${server} failed: ${r.reason}`,
        );
      this.failing.set(server, `test page failed: ${r.reason}`);
    } else {
      this.failures.delete(server);
      if (was === undefined) return;
      this.failing.delete(server);
      this.o.event(server, 'server.test-page-passed', 'info', `test page of ${server} passes again`);
    }
  }

  private async probe(server: string, url: string, path: string) {
    const sent = this.o.clock();
    const r = await this.prober.probe({ server, url, path });
    if (this.stopped) return;
    const stop = this.o.clock();
    const put = (metric: string, value: number | undefined) => {
      if (value !== undefined && Number.isFinite(value))
        this.samples.push({ component: server, metric, start: sent, stop, value });
    };
    if (!r.ok) {
      this.o.log.warn({ server, reason: r.reason }, `probe of ${server} failed: ${r.reason}`);
      put('probe.failed', 1);
      return;
    }
    put('probe.response_time', r.responseTime);
    if (r.viaInterface) {
      put('probe.queue_delay', r.queueDelay);
      put('probe.service_time', r.serviceTime);
      put('probe.ahead', r.ahead);
    }
  }
}
