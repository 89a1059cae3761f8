import { Pool } from 'undici';
import type { ProxyConfig } from '../config/gateway-schema.js';
import type { AdaptiveLimit } from '../core/adaptive-limit.js';
import { InFlightHistory } from '../core/in-flight-history.js';
import { newServerWatch, type ServerWatch } from '../core/server-watch.js';
import type { ServerState } from '../interceptor/site-state.js';

/**
 * The gateway's connections to each server (document 004 claims 2 and 13: several channels
 * per server): one undici Pool per server and settings, HTTP/1.1 keep-alive, no pipelining, a
 * request taking a free connection. The requests in flight at each server are counted here,
 * across every application that shares it, for the choice.
 *
 * @example
 * const ups = new Upstreams();
 * const u = ups.get('web-a', 'http://127.0.0.1:9001', settings);
 * sent(u, Date.now());
 */

/** What the choice reads and keeps of one server, whatever carries its requests. */
export interface ServerSide {
  name: string;
  /** Requests of this gateway at the server now; changed through sent() and ended(). */
  inFlight: number;
  /** The count over the last seconds, to tell this gateway's requests in the server's figures. */
  history: InFlightHistory;
  /** The server as the site file last had it (its memberships, for the admission queue). */
  server?: ServerState;
  /** What the gateway learnt of it: latency, failures, ejection, ramp (core/server-watch.ts). */
  watch: ServerWatch;
  /** Whether the application could use it at the last pick (undefined: not yet seen). */
  wasAvailable?: boolean;
  /** Its adaptive limit (`serverLimit: adaptive`), made with its first answer. */
  adaptive?: AdaptiveLimit;
}

export interface Upstream extends ServerSide {
  origin: string;
  pool: Pool;
}

/** Where the choice finds each server's side: the gateway's upstreams, or the simulator's. */
export interface ServerSides {
  get(name: string, origin: string, s: ProxyConfig): ServerSide;
  peek(name: string): ServerSide | undefined;
}

/** A request goes to the server now. */
export function sent(up: ServerSide, now: number): void {
  up.history.change(now, up.inFlight);
  up.inFlight++;
}

/** A request to the server ended now (answered, failed or abandoned). */
export function ended(up: ServerSide, now: number): void {
  up.history.change(now, up.inFlight);
  up.inFlight--;
}

/** A server's side with nothing sent yet. */
export function newServerSide(name: string): ServerSide {
  return { name, inFlight: 0, history: new InFlightHistory(), watch: newServerWatch() };
}

export class Upstreams implements ServerSides {
  private readonly byName = new Map<string, Upstream & { key: string; settings: ProxyConfig }>();

  /** The server's upstream, made (or made again, after its address or settings changed) now. */
  get(name: string, origin: string, s: ProxyConfig): Upstream {
    const known = this.byName.get(name);
    // Per request: the same settings object and origin as last time need no key made.
    if (known && known.settings === s && known.origin === origin) return known;
    const key = `${origin}|${s.connections}|${s.connectTimeout}|${s.responseTimeout}|${s.idleTimeout}`;
    if (known && known.key === key) {
      known.settings = s;
      return known;
    }
    if (known) void known.pool.close().catch(() => {});
    const pool = new Pool(origin, {
      connections: s.connections,
      pipelining: 1,
      connect: { timeout: s.connectTimeout },
      // Set once here rather than on each request: undici reads them per request either way.
      headersTimeout: s.responseTimeout,
      bodyTimeout: s.idleTimeout,
      // Servers close idle connections too; undici retires a connection a second before the
      // server's own Keep-Alive timeout when it states one.
      keepAliveTimeout: 4000,
      keepAliveTimeoutThreshold: 1000,
    });
    const u: Upstream & { key: string; settings: ProxyConfig } = {
      name,
      origin,
      pool,
      inFlight: known?.inFlight ?? 0,
      history: known?.history ?? new InFlightHistory(),
      key,
      settings: s,
      watch: known?.watch ?? newServerWatch(),
      ...(known?.server ? { server: known.server } : {}),
      ...(known?.wasAvailable !== undefined ? { wasAvailable: known.wasAvailable } : {}),
      ...(known?.adaptive ? { adaptive: known.adaptive } : {}),
    };
    this.byName.set(name, u);
    return u;
  }

  /** The server's upstream if one was made. */
  peek(name: string): Upstream | undefined {
    return this.byName.get(name);
  }

  /** Servers no longer in the site file: their connections close once their requests end. */
  retain(names: ReadonlySet<string>): void {
    for (const [name, u] of this.byName)
      if (!names.has(name)) {
        this.byName.delete(name);
        void u.pool.close().catch(() => {});
      }
  }

  async close(): Promise<void> {
    const all = [...this.byName.values()];
    this.byName.clear();
    await Promise.all(all.map((u) => u.pool.destroy().catch(() => {})));
  }
}
