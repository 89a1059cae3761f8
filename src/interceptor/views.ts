import { PROXY_DEFAULTS } from '../config/gateway-schema.js';
import { maxConcurrentOf } from '../config/schema.js';
import { mayMove } from '../core/page-rules.js';
import type { Decider, WeightBreakdown } from '../core/server-pool.js';
import type { Gateway, GatewayAppView } from '../gateway/gateway.js';
import { parseTarget } from './decide.js';
import type { Overrides } from './overrides.js';
import type { AppState, ServerState, SiteState } from './site-state.js';

/**
 * What `ctl status` and `ctl explain` show. Both only read: explain computes what a request
 * would get without picking, so asking never moves a counter.
 */

export interface ServerView {
  name: string;
  enabled: boolean;
  health: 'up' | 'down' | 'unchecked';
  healthError?: string;
  capacity: number;
  LM: number;
  referrals: number;
  url: { http?: string; https?: string; internal: string };
  overrides: string[];
  /** What the manager last said, when it has said anything. */
  manager?: {
    L: number;
    level: string;
    failed: boolean;
    /** ms since the figures behind L were measured. */
    ageMs: number;
    average?: number;
    queueLength?: number;
    busy?: number;
    slots?: number;
    queueDelay?: number;
    serviceTime?: number;
  };
}

/** One server of an application as this interceptor's choice sees it. */
export interface MemberView {
  name: string;
  /** Share of the next pick by the interval choice (what it would do), 0..1. */
  share: number;
  /** Share of this interceptor's recent picks (what it did), 0..1. */
  recent: number;
  /** Expected delay by the queue choice, ms, when the server's figures are fresh. */
  delayMs?: number;
}

export interface AppView {
  name: string;
  enabled: boolean;
  inFlight: number;
  maxConcurrent: number;
  /** The rule placing requests now: `queue` needs fresh figures from every server. */
  choice: Decider;
  /** Why that rule, in words. */
  choiceWhy: string;
  /** The client round trip the queue choice counts referrals over: learnt, or the setting until then (ms). */
  roundTripMs: number;
  servers: MemberView[];
  overrides: string[];
  /** redirect (document 002) or proxy (the gateway, document 004). */
  mode: 'redirect' | 'proxy';
  /** A proxy application's gateway: its choice, admission queue and servers as it sees them. */
  gateway?: GatewayAppView;
}

export interface StatusView {
  applications: AppView[];
  servers: ServerView[];
  /** Every override in force: the value, who set it and when (the newest change stands, D46). */
  overrides: OverrideView[];
}

export interface OverrideView {
  target: 'application' | 'server';
  name: string;
  field: string;
  /** The value in words: "false", "3", "a page of 1,204 bytes". */
  value: string;
  /** Where it was made ("ctl at 10.0.0.5", "interceptor host:8080"), when known. */
  by?: string;
  /** When, ISO 8601 (this host's clock). */
  at?: string;
}

export function statusView(
  state: SiteState,
  overrides: Overrides,
  now: number,
  gateway?: Pick<Gateway, 'appView'>,
): StatusView {
  const servers = [...state.servers.values()].map((s) => serverView(s, overrides, now));
  const applications = state.apps.map((a) => ({
    name: a.name,
    enabled: a.enabled,
    inFlight: a.inFlight,
    maxConcurrent: maxConcurrentOf(a.config),
    ...choiceOf(state, a, now),
    roundTripMs: a.pool.clientRoundTrip,
    servers: a.servers.map((s, i) => memberView(s.name, a.pool.breakdown(i, now))),
    overrides: Object.keys(overrides.apps.get(a.name) ?? {}),
    mode: a.config.mode,
    ...(a.config.mode === 'proxy' ? { gateway: gateway?.appView(a.name) ?? idleGateway(a) } : {}),
  }));
  return { applications, servers, overrides: overrideViews(overrides) };
}

function overrideViews(o: Overrides): OverrideView[] {
  const views: OverrideView[] = [];
  const add = (target: OverrideView['target'], name: string, values: Record<string, unknown>) => {
    const origins = o.origins.get(`${target} ${name}`) ?? {};
    for (const [field, v] of Object.entries(values)) {
      if (v === undefined) continue;
      const from = origins[field];
      views.push({
        target,
        name,
        field,
        value: Buffer.isBuffer(v) ? `a page of ${v.length} bytes` : String(v),
        ...(from ? { by: from.by, at: new Date(from.at).toISOString() } : {}),
      });
    }
  };
  for (const [name, v] of o.apps) add('application', name, v);
  for (const [name, v] of o.servers) add('server', name, v);
  return views;
}

/** A proxy application that has had no request yet. */
function idleGateway(a: AppState): GatewayAppView {
  return {
    choice: a.config.proxy?.choice ?? PROXY_DEFAULTS.choice,
    queue: { length: 0, oldestWaitMs: 0, meanWaitMs: 0, timedOut: 0, refused: 0 },
    servers: a.servers.map((s) => ({ name: s.name, inFlight: 0, latencyMs: 0, ejected: false, ramp: 1 })),
  };
}

function memberView(name: string, b: WeightBreakdown): MemberView {
  return {
    name,
    share: round(b.share),
    recent: round(b.recent),
    ...(b.delay !== undefined ? { delayMs: Math.round(b.delay * 10) / 10 } : {}),
  };
}

function choiceOf(state: SiteState, a: AppState, now: number): { choice: Decider; choiceWhy: string } {
  const choice = a.pool.decider(now);
  if (choice === 'queue')
    return { choice, choiceWhy: "shortest expected delay from the servers' own queue figures" };
  return {
    choice,
    choiceWhy:
      state.site.interceptor.choice === 'interval'
        ? 'the interval choice on each load metric (interceptor.choice)'
        : 'the interval choice on each load metric: not every server has queue figures younger than T',
  };
}

function serverView(s: ServerState, overrides: Overrides, now: number): ServerView {
  const m = s.memberships[0];
  const LM = m ? m.app.pool.breakdown(m.index, now).LM : s.capacity * 1000;
  return {
    name: s.name,
    enabled: s.enabled,
    health: s.check ? (s.health.up ? 'up' : 'down') : 'unchecked',
    ...(s.health.lastError ? { healthError: s.health.lastError } : {}),
    capacity: s.capacity,
    LM: Math.round(LM),
    referrals: s.referrals,
    url: { http: s.addresses.publicHttp, https: s.addresses.publicHttps, internal: s.addresses.internal },
    overrides: Object.keys(overrides.servers.get(s.name) ?? {}),
    ...(s.managed
      ? {
          manager: {
            L: s.managed.L,
            level: s.managed.level,
            failed: s.managed.failed,
            ageMs: Math.round(now - s.managed.measuredAt),
            ...(s.managed.average !== undefined ? { average: s.managed.average } : {}),
            ...(s.managed.figures
              ? {
                  queueLength: s.managed.figures.queueLength,
                  busy: s.managed.figures.busy,
                  slots: s.managed.figures.slots,
                  queueDelay: round(s.managed.figures.queueDelay),
                  serviceTime: round(s.managed.figures.serviceTime),
                }
              : {}),
          },
        }
      : {}),
  };
}

export interface ExplainView {
  url: string;
  host: string;
  application: string | null;
  why: string;
  secure: boolean;
  movable?: boolean;
  servers: Array<{
    name: string;
    enabled: boolean;
    health: string;
    capacity: number;
    LM: number;
    referrals: number;
    factor: number;
    share: number;
    recent: number;
    delayMs?: number;
    excluded?: string;
  }>;
  /** The rule that would place this request. */
  choice?: Decider;
  outcome: string;
}

export function explainView(
  state: SiteState,
  url: string,
  host: string,
  secure: boolean,
  now: number,
): ExplainView {
  const target = parseTarget(url, host);
  const base = { url, host, secure, servers: [] };
  if (!target)
    return {
      ...base,
      application: null,
      why: 'the target is malformed or names another host',
      outcome: '400 Bad Request',
    };
  const app = state.matcher.match(target.host, target.path);
  if (!app) {
    return {
      ...base,
      application: null,
      why: `no application matches host "${target.host}" and path "${target.path}"`,
      outcome: '404 Not Found',
    };
  }
  const wantSecure = secure || app.config.secure;
  const servers = app.servers.map((s, i) => {
    const b = app.pool.breakdown(i, now, wantSecure);
    return {
      name: s.name,
      enabled: s.enabled,
      health: s.check ? (s.health.up ? 'up' : `down (${s.health.lastError ?? 'checks fail'})`) : 'unchecked',
      capacity: s.capacity,
      LM: Math.round(b.LM),
      referrals: round(b.referrals),
      factor: round(b.factor),
      share: round(b.share),
      recent: round(b.recent),
      ...(b.delay !== undefined ? { delayMs: Math.round(b.delay * 10) / 10 } : {}),
      ...excludedWhy(state, s, app, i, wantSecure, now),
    };
  });
  const choice = app.pool.decider(now, wantSecure);
  const next = choice === 'queue' ? app.pool.wouldPick(now, wantSecure) : -1;
  return {
    ...base,
    secure: wantSecure,
    application: app.name,
    why: matchWhy(app, target.host),
    movable: mayMove(app.pageRules, target.path),
    servers,
    choice,
    outcome:
      next >= 0 && app.enabled
        ? queueOutcome(app, next, servers[next]!.delayMs, target.pathAndQuery, wantSecure)
        : outcome(app, servers, target.pathAndQuery, wantSecure),
  };
}

function excludedWhy(
  state: SiteState,
  s: ServerState,
  app: AppState,
  i: number,
  secure: boolean,
  now: number,
): { excluded?: string } {
  if (!s.enabled) return { excluded: 'disabled by the operator' };
  if (!s.health.up) return { excluded: `failing its checks: ${s.health.lastError ?? 'no answer'}` };
  if (!state.available(s, app, now))
    return {
      excluded: s.managed?.failed
        ? 'the manager has evidence it is down'
        : `the manager reports it ${s.managed?.level === 'max' ? 'at maximum' : 'heavily'} loaded`,
    };
  if (secure && app.bases[i]![1] === undefined)
    return { excluded: 'no https address and the request is secure' };
  return {};
}

function matchWhy(app: AppState, host: string): string {
  const h = app.config.match.host;
  const hostPart = h === undefined ? 'any host' : `host "${host}" (rule ${JSON.stringify(h)})`;
  return `longest matching path prefix "${app.config.match.pathPrefix}" for ${hostPart}`;
}

function outcome(
  app: AppState,
  servers: Array<{ name: string; share: number }>,
  pq: string,
  secure: boolean,
): string {
  if (!app.enabled)
    return `503 with ${app.sorryPage ? 'its sorry page' : 'the built-in sorry page'}: the application is disabled`;
  const live = servers.filter((s) => s.share > 0);
  if (live.length === 0) {
    return `503 ${app.sorryPage ? 'with its sorry page' : 'Service Unavailable'}: no server can take it`;
  }
  const parts = live.map((s) => {
    const i = app.serverIndex.get(s.name)!;
    return `${baseOf(app, i, secure)}${pq} (${(s.share * 100).toFixed(1)}%)`;
  });
  return `${app.config.redirectStatus} (307 for other methods than GET and HEAD) to one of: ${parts.join(', ')}`;
}

function baseOf(app: AppState, i: number, secure: boolean): string | undefined {
  return secure ? app.bases[i]![1] : (app.bases[i]![0] ?? app.bases[i]![1]);
}

function queueOutcome(
  app: AppState,
  i: number,
  delay: number | undefined,
  pq: string,
  secure: boolean,
): string {
  const d = delay === undefined ? '' : `, ${delay} ms expected`;
  return `${app.config.redirectStatus} (307 for other methods than GET and HEAD) to ${baseOf(app, i, secure)}${pq}: ${app.servers[i]!.name} has the shortest expected delay now${d} (the next request may go elsewhere as this one is counted)`;
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
