import type { ServerAddresses } from '../config/load.js';
import type { ApplicationConfig, ServerConfig, Site } from '../config/schema.js';
import { type Health, type HealthThresholds, initialHealth } from '../core/health.js';
import { type DynamicLoad, MAX_LOAD_VALUE, staticCapacity } from '../core/load-metric.js';
import type { QueueFigures } from '../core/load-value.js';
import { compilePageRules, type PageRules } from '../core/page-rules.js';
import type { ServerQueue } from '../core/queue-choice.js';
import { ServerPool } from '../core/server-pool.js';
import type { LoadLevelName } from '../core/thresholds.js';
import type { ServerLoad } from '../protocol/messages.js';
import { Matcher } from './matcher.js';
import type { Overrides } from './overrides.js';

/**
 * The runtime view of the site: every application and server with its live state (enabled,
 * health, capacity, referrals), built from the site file plus the operator's overrides.
 * A reload builds a new SiteState and swaps the reference; health carries over for servers
 * whose check address did not change, so a reload never sends users to a dead server.
 */

export interface CheckSpec extends HealthThresholds {
  url: string;
  interval: number;
  timeout: number;
}

export interface ServerState {
  name: string;
  config: ServerConfig;
  addresses: ServerAddresses;
  enabled: boolean;
  capacity: number;
  health: Health;
  /** null when this server is not checked. */
  check: CheckSpec | null;
  /** Every pool the server is in, to update when its availability changes. */
  memberships: Array<{ app: AppState; index: number }>;
  /** Referrals made to this server since start (for status). */
  referrals: number;
  /** What the manager last said about the server, if anything. */
  managed: ManagedLoad | undefined;
}

/** The manager's view of one server, as received (clock readings are this process's). */
export interface ManagedLoad {
  L: number;
  /** When the figures behind L were measured. */
  measuredAt: number;
  /** When the manager said so; level and failure lapse when this gets old. */
  receivedAt: number;
  level: LoadLevelName;
  failed: boolean;
  average: number | undefined;
  figures: QueueFigures | undefined;
}

export interface AppState {
  name: string;
  config: ApplicationConfig;
  enabled: boolean;
  sorryPage: Buffer | undefined;
  servers: ServerState[];
  serverIndex: Map<string, number>;
  pool: ServerPool;
  pageRules: PageRules;
  /** Requests of this application being handled now. */
  inFlight: number;
  /** Redirect base per server: [http, https] with the same index as `servers`. */
  bases: Array<[string | undefined, string | undefined]>;
  /** Cookie path for affinity. */
  cookiePath: string;
  /** The manager says the application is swamped: heavily loaded servers stay in rotation. */
  swamped: boolean;
}

export class SiteState {
  readonly apps: AppState[];
  readonly servers: Map<string, ServerState>;
  readonly matcher: Matcher<AppState>;
  /** The site secret, to read redirect marks; undefined when the interceptor runs alone. */
  markSecret: string | undefined;
  /** How long the manager's levels and failures hold without a new word from it, ms. */
  private readonly managedTtl: number;
  /** Interceptors the manager last said it feeds (each scales its own referrals by it). */
  private doors: number;
  /** Each server's place in the site file. */
  private readonly order = new Map<ServerState, number>();
  private readonly appsByName = new Map<string, AppState>();
  /** The applications whose `swamped` is true. */
  private swampedApps = new Set<AppState>();

  constructor(
    readonly site: Site,
    addresses: Map<string, ServerAddresses>,
    sorryPages: Map<string, Buffer>,
    overrides: Overrides,
    previous: SiteState | undefined,
    now: number,
  ) {
    const ic = site.interceptor;
    this.markSecret = previous?.markSecret;
    this.doors = previous?.doors ?? 1;
    this.managedTtl = Math.max(ic.obsolescenceTime, 1000);
    this.servers = new Map();
    for (const cfg of site.servers) {
      const addr = addresses.get(cfg.name)!;
      const o = overrides.servers.get(cfg.name);
      const check = checkSpec(site, cfg, addr);
      const old = previous?.servers.get(cfg.name);
      const sameTarget = old !== undefined && old.check?.url === check?.url;
      this.servers.set(cfg.name, {
        name: cfg.name,
        config: cfg,
        addresses: addr,
        enabled: o?.enabled ?? cfg.enabled,
        capacity: o?.capacity ?? cfg.capacity,
        // A server that is no longer checked is trusted again; one still checked at the same
        // address keeps what the checks found.
        health: sameTarget && check ? old.health : initialHealth(),
        check,
        memberships: [],
        referrals: old?.referrals ?? 0,
        managed: old?.managed,
      });
    }
    for (const s of this.servers.values()) this.order.set(s, this.order.size);
    const params = {
      obsolescence: ic.obsolescenceTime,
      referral: { halfLife: ic.referralHalfLife, perUnit: ic.referralsPerUnit },
      choice: ic.choice,
      roundTrip: ic.clientRoundTrip,
      measureRoundTrip: ic.measureRoundTrip,
    };
    this.apps = site.applications.map((cfg) => {
      const o = overrides.apps.get(cfg.name);
      const servers = cfg.servers.map((n) => this.servers.get(n)!);
      const pool = new ServerPool(
        servers.map((s) => ({
          C: staticCapacity(s.capacity),
          https: s.addresses.publicHttps !== undefined,
          available: s.enabled && s.health.up,
          dynamic: dynamicLoad(s),
          queue: queueOf(s),
        })),
        params,
        now,
      );
      pool.setDoors(this.doors);
      const pages = cfg.stateful
        ? { mode: 'stateful' as const, pages: cfg.stateful }
        : cfg.movable
          ? { mode: 'movable' as const, pages: cfg.movable }
          : { mode: 'fixed' as const, pages: cfg.fixed ?? [] };
      const app: AppState = {
        name: cfg.name,
        config: cfg,
        enabled: o?.enabled ?? cfg.enabled,
        sorryPage: o?.sorryPage ?? sorryPages.get(cfg.name),
        servers,
        serverIndex: new Map(servers.map((s, i) => [s.name, i])),
        pool,
        pageRules: compilePageRules(pages),
        inFlight: 0,
        bases: servers.map((s) => [s.addresses.publicHttp, s.addresses.publicHttps]),
        cookiePath: cfg.match.pathPrefix,
        swamped: previous?.apps.find((a) => a.name === cfg.name)?.swamped ?? false,
      };
      servers.forEach((s, index) => {
        s.memberships.push({ app, index });
      });
      this.appsByName.set(app.name, app);
      if (app.swamped) this.swampedApps.add(app);
      return app;
    });
    this.matcher = new Matcher(
      this.apps.map((app) => {
        const h = app.config.match.host;
        const hosts = h === undefined ? [] : (Array.isArray(h) ? h : [h]).map((x) => x.toLowerCase());
        return { hosts, pathPrefix: app.config.match.pathPrefix, value: app };
      }),
    );
  }

  /** Re-derives a server's availability in every pool after its health or flag changed. */
  updateAvailability(server: ServerState, now: number): void {
    for (const m of server.memberships)
      m.app.pool.setAvailable(m.index, this.available(server, m.app, now), now);
  }

  /**
   * Whether a server takes new users of an application: enabled by the operator (an
   * override always wins over the manager), passing the interceptor's own checks, and, while
   * the manager's word is recent, not failed and not heavily loaded unless the application
   * is swamped (then every server is back in rotation).
   */
  available(server: ServerState, app: AppState, now: number): boolean {
    if (!server.enabled || !server.health.up) return false;
    const m = server.managed;
    if (!m || now - m.receivedAt > this.managedTtl) return true;
    if (m.failed) return false;
    return m.level === 'normal' || app.swamped;
  }

  /**
   * The manager's load message: values, levels, failures, swamped applications, doors. Only
   * what it names is touched (issue 29): each server in it, in every pool it is in; and the
   * members of an application whose swamped flag it changes. Aging the others (LM fading
   * toward C, levels lapsing) is refreshManaged's, on the interceptor's tick: applying every
   * server on every message made an interceptor's work grow with agents × servers.
   */
  applyLoad(servers: readonly ServerLoad[], swamped: readonly string[], now: number, doors = 1): void {
    if (doors !== this.doors) {
      this.doors = doors;
      for (const app of this.apps) app.pool.setDoors(doors);
    }
    this.applySwamped(swamped, now);
    // In the site file's order, as when every server was applied: a pool's service estimates
    // read each other's (the reference an idle server relaxes towards).
    const named: ServerState[] = [];
    for (const l of servers) {
      const s = this.servers.get(l.server);
      if (!s) continue;
      s.managed = {
        L: l.L,
        measuredAt: measuredAt(s.managed, l, now),
        receivedAt: now,
        level: l.level,
        failed: l.failed,
        average: l.average,
        figures: l.figures,
      };
      named.push(s);
    }
    if (named.length > 1) named.sort((a, b) => this.order.get(a)! - this.order.get(b)!);
    for (const s of named) {
      const queue = queueOf(s);
      for (const m of s.memberships) m.app.pool.setQueue(m.index, queue);
    }
    for (const s of named) {
      const dynamic = dynamicLoad(s);
      for (const m of s.memberships) {
        m.app.pool.setDynamic(m.index, dynamic, now);
        m.app.pool.setAvailable(m.index, this.available(s, m.app, now), now);
      }
    }
  }

  /**
   * The applications the manager calls swamped now: an application whose flag changes has
   * every member's availability worked out again (heavy servers go back into rotation or
   * out of it); the rest are not touched.
   */
  private applySwamped(names: readonly string[], now: number): void {
    if (names.length === 0 && this.swampedApps.size === 0) return;
    const next = new Set<AppState>();
    for (const n of names) {
      const app = this.appsByName.get(n);
      if (app) next.add(app);
    }
    const changed: AppState[] = [];
    for (const app of this.swampedApps) if (!next.has(app)) changed.push(app);
    for (const app of next) if (!this.swampedApps.has(app)) changed.push(app);
    this.swampedApps = next;
    for (const app of changed) {
      app.swamped = next.has(app);
      app.servers.forEach((s, i) => {
        app.pool.setAvailable(i, this.available(s, app, now), now);
      });
    }
  }

  /**
   * Ages the manager's values: LM fades from L toward C over T, and levels and failures
   * lapse when the manager has been silent too long. Called every tick while a manager is
   * configured (O(servers)).
   */
  refreshManaged(now: number): void {
    for (const s of this.servers.values()) {
      const dynamic = dynamicLoad(s);
      for (const m of s.memberships) {
        m.app.pool.setDynamic(m.index, dynamic, now);
        m.app.pool.setAvailable(m.index, this.available(s, m.app, now), now);
      }
    }
  }

  setCapacity(server: ServerState, capacity: number, now: number): void {
    server.capacity = capacity;
    const dynamic = dynamicLoad(server);
    for (const m of server.memberships) {
      m.app.pool.setCapacity(m.index, staticCapacity(capacity), now);
      m.app.pool.setDynamic(m.index, dynamic, now);
    }
  }
}

/**
 * The manager's L as the pool's dynamic value: the share of the server's static capacity
 * that is free, L / 10,000 × C (see docs/decisions.md D23), so idle servers share by capacity
 * and a loaded one loses weight in proportion to its queue.
 */
function dynamicLoad(s: ServerState): DynamicLoad | undefined {
  if (!s.managed) return undefined;
  return {
    value: (s.managed.L / MAX_LOAD_VALUE) * staticCapacity(s.capacity),
    measuredAt: s.managed.measuredAt,
  };
}

/**
 * How often the interceptor ages what the manager said (LM fades toward C, levels lapse): with
 * the report interval, between 100 and 250 ms; figures arriving are applied at once anyway.
 */
export function refreshInterval(reportInterval: number): number {
  return Math.min(250, Math.max(100, reportInterval));
}

/** Within this, the same figures pushed twice are one report: the transit's jitter, ms. */
const SAME_REPORT = 25;

/**
 * When a server's figures were measured, on this process's clock. The manager passes new
 * figures on at once and pushes them again on its tick; the two ages differ only by the
 * link's jitter, and taking the repeat for a new report would count its service times twice.
 */
function measuredAt(prev: ManagedLoad | undefined, l: ServerLoad, now: number): number {
  const at = now - l.age;
  const f = l.figures;
  const p = prev?.figures;
  if (!prev || !f || !p || Math.abs(at - prev.measuredAt) > SAME_REPORT) return at;
  const same =
    f.queueLength === p.queueLength &&
    f.busy === p.busy &&
    f.slots === p.slots &&
    f.queueDelay === p.queueDelay &&
    f.serviceTime === p.serviceTime &&
    f.requests === p.requests &&
    f.errors === p.errors;
  return same ? prev.measuredAt : at;
}

/** The server's queue figures as the pool's queue choice reads them. */
function queueOf(s: ServerState): ServerQueue | undefined {
  const f = s.managed?.figures;
  if (!f) return undefined;
  return {
    queueLength: f.queueLength,
    busy: f.busy,
    slots: f.slots,
    serviceTime: f.serviceTime,
    requests: f.requests,
    measuredAt: s.managed!.measuredAt,
  };
}

function checkSpec(site: Site, cfg: ServerConfig, addr: ServerAddresses): CheckSpec | null {
  const defaults = site.interceptor.healthCheck;
  if (!defaults.enabled || cfg.healthCheck === false) return null;
  const own = cfg.healthCheck;
  const appPath = site.applications.find((a) => a.servers.includes(cfg.name) && a.healthCheck)?.healthCheck
    ?.path;
  const path = own?.path ?? appPath ?? '/';
  return {
    url: addr.internal + path,
    interval: own?.interval ?? defaults.interval,
    timeout: own?.timeout ?? defaults.timeout,
    rise: own?.rise ?? defaults.rise,
    fall: own?.fall ?? defaults.fall,
  };
}
