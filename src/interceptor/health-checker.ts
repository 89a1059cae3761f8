import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { recordCheck } from '../core/health.js';
import type { Clock } from '../core/random.js';
import type { Logger } from '../log/logger.js';
import { CHECK_HEADER } from '../protocol/check-header.js';
import type { CheckSpec, ServerState, SiteState } from './site-state.js';

/**
 * The interceptor's own light checks: one GET per server per interval, to its internal
 * address. A dead server leaves rotation even when no manager runs, and comes back when it
 * answers again. Results go through the core's health state machine.
 */

/** One check: resolves to undefined on success or to a reason in words. */
export function probe(spec: CheckSpec): Promise<string | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (reason: string | undefined) => {
      if (done) return;
      done = true;
      resolve(reason);
    };
    const url = new URL(spec.url);
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      {
        method: 'GET',
        timeout: spec.timeout,
        headers: { 'user-agent': 'switchyard-check', connection: 'close', [CHECK_HEADER]: 'health' },
      },
      (res) => {
        res.resume();
        const s = res.statusCode ?? 0;
        finish(s >= 200 && s < 400 ? undefined : `answered ${s}`);
      },
    );
    req.on('timeout', () => {
      req.destroy();
      finish(`no answer within ${spec.timeout} ms`);
    });
    req.on('error', (e: NodeJS.ErrnoException) => finish(e.code ? `${e.code} ${url.host}` : e.message));
    req.end();
  });
}

export class HealthChecker {
  private timers = new Map<string, NodeJS.Timeout>();
  private specs = new Map<string, string>();
  private stopped = false;

  constructor(
    private readonly state: () => SiteState,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly onChange: (server: ServerState) => void,
  ) {}

  /** Starts, stops or restarts checks so they match the current state (after a reload). */
  sync(): void {
    const servers = this.state().servers;
    for (const [name, timer] of this.timers) {
      const s = servers.get(name);
      if (!s?.check || JSON.stringify(s.check) !== this.specs.get(name)) {
        clearInterval(timer);
        this.timers.delete(name);
        this.specs.delete(name);
      }
    }
    for (const s of servers.values()) {
      if (!s.check || this.timers.has(s.name)) continue;
      const spec = s.check;
      const run = () => void this.checkOnce(s.name);
      this.timers.set(s.name, setInterval(run, spec.interval).unref());
      this.specs.set(s.name, JSON.stringify(spec));
      run();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearInterval(t);
    this.timers.clear();
  }

  private async checkOnce(name: string): Promise<void> {
    const before = this.state().servers.get(name);
    if (!before?.check) return;
    const reason = await probe(before.check);
    // The state may have been reloaded meanwhile: apply the result to the current server.
    const s = this.state().servers.get(name);
    if (this.stopped || !s?.check || s.check.url !== before.check.url) return;
    const wasUp = s.health.up;
    s.health = recordCheck(s.health, reason === undefined, s.check, reason);
    if (s.health.up !== wasUp) {
      if (s.health.up) this.log.info({ server: name }, `server ${name} is up again: its checks pass`);
      else
        this.log.warn({ server: name, reason }, `server ${name} is down: ${reason}; no users are sent to it`);
      this.state().updateAvailability(s, this.clock());
      this.onChange(s);
    }
  }
}
