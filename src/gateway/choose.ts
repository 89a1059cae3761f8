import type { ProxyConfig } from '../config/gateway-schema.js';
import { PROBE_LIMIT } from '../core/adaptive-limit.js';
import { type GatewayCandidate, leastCost, leastRequest, RoundRobin } from '../core/gateway-choice.js';
import type { Random } from '../core/random.js';
import { RetryBudget } from '../core/retry-budget.js';
import {
  costOf,
  isEjected,
  maybeEject,
  observe,
  rampOf,
  takeProbe,
  WATCH_DEFAULTS,
  type WatchParams,
} from '../core/server-watch.js';
import type { AppState, ServerState } from '../interceptor/site-state.js';
import { AdmissionQueue } from './admission.js';
import type { ServerSide, ServerSides } from './upstreams.js';

/**
 * How the gateway picks a server for one request of an application (issue 30, claims 7-9
 * and 16-17): among those the application may use now (enabled, healthy, not at a level
 * that takes no new users: the interceptor's availability), not ejected as an outlier, under
 * their limit of requests in flight, by the application's policy, with a server that joined or
 * came back weighing less while it ramps up. An ejected server whose time is up takes the
 * next request as its probe.
 *
 * @example
 * const i = pickServer(app, g, upstreams, new Set(), true, now, Math.random, originOf);
 * if (i === FULL) wait(); else if (i === NONE) answer503();
 */

/** No server of the application can take a request (503 at once). */
export const NONE = -1;
/** Every server that could take it is at its limit (wait in the admission queue). */
export const FULL = -2;

/** An application's gateway state, kept by name across reloads. */
export interface AppGateway {
  /** The application as the site file now has it. */
  app: AppState;
  settings: ProxyConfig;
  watch: WatchParams;
  roundRobin: RoundRobin;
  budget: RetryBudget;
  candidates: GatewayCandidate[];
  queue: AdmissionQueue;
}

export function appGatewayFor(
  app: AppState,
  previous: AppGateway | undefined,
  settings: ProxyConfig,
  clock: () => number,
): AppGateway {
  return {
    app,
    settings,
    watch: {
      ...WATCH_DEFAULTS,
      consecutiveFailures:
        settings.consecutiveFailures > 0 ? settings.consecutiveFailures : Number.POSITIVE_INFINITY,
      ejectFor: settings.ejectFor,
      slowStart: settings.slowStart,
    },
    roundRobin: previous?.roundRobin ?? new RoundRobin(),
    budget: previous?.budget ?? new RetryBudget(settings.retryBudget, 3, clock),
    candidates: app.servers.map(() => ({ inFlight: 0, capacity: 1, available: false })),
    queue: previous?.queue ?? new AdmissionQueue(settings.queueLength),
  };
}

/** Figures older than this are not folded into the gateway's own counts, ms. */
export const FOLD_WITHIN = 1000;

/** What a server's figures say beyond this gateway's own count (serverFigures). */
export interface ServerFigures {
  /** Requests it holds from elsewhere: other gateways and doors, clients that bypass them. */
  others: number;
  slots: number;
  /** The queue choice's service time estimate, ms. */
  service: number;
}

/** One answer, filled again by each call: picks read it at once, and make nothing per request. */
const scratch: ServerFigures = { others: 0, slots: 1, service: 0 };

/**
 * What the server's own figures say beyond this gateway's counts, as of its latest figures:
 * the requests it holds from elsewhere, its slots, its service time. Undefined without fresh
 * figures (or ones older than the gateway's history of its own count). The object returned is
 * the same each call: read it before the next.
 */
export function serverFigures(
  app: AppState,
  index: number,
  up: ServerSide,
  now: number,
): Readonly<ServerFigures> | undefined {
  const q = app.pool.freshQueue(index, now);
  if (!q || now - q.measuredAt > FOLD_WITHIN) return undefined;
  const mine = up.history.at(q.measuredAt, up.inFlight);
  if (mine === undefined) return undefined;
  scratch.others = Math.max(0, q.queueLength + q.busy - mine);
  scratch.slots = Math.max(1, q.slots);
  scratch.service = app.pool.serviceTime(index);
  return scratch;
}

/**
 * Requests in flight this gateway may have at a server: its interface's slots, and as many
 * again per slot as `serverQueue` says may wait in its own queue, less what its figures say
 * others hold there; what the adaptive limit found (a few, while it measures the
 * server's floor, before its first answers), a number, or no limit.
 */
export function limitOf(
  s: ServerState,
  settings: ProxyConfig,
  up: ServerSide | undefined,
  others = 0,
  ramp = 1,
): number {
  const l = settings.serverLimit;
  if (l === 'none') return Number.POSITIVE_INFINITY;
  // Slow start: a server back in rotation may have its ramp's share of its limit, one at least.
  const ramped = (n: number) => (ramp < 1 ? Math.max(1, Math.ceil(n * ramp)) : n);
  if (typeof l === 'number') return ramped(l);
  if (l === 'adaptive') return ramped(up?.adaptive?.limit ?? PROBE_LIMIT);
  const slots = s.managed?.figures?.slots;
  return slots !== undefined && slots > 0
    ? Math.max(0, ramped(Math.round(slots * (1 + settings.serverQueue))) - others)
    : Number.POSITIVE_INFINITY;
}

/** A server's limit now: others' requests from its fresh figures taken off, slow start's ramp applied. */
export function limitNow(g: AppGateway, index: number, up: ServerSide, now: number): number {
  const f = g.settings.serverLimit === 'slots' ? serverFigures(g.app, index, up, now) : undefined;
  return limitOf(g.app.servers[index]!, g.settings, up, f?.others ?? 0, rampOf(up.watch, now, g.watch));
}

export function pickServer(
  app: AppState,
  g: AppGateway,
  upstreams: ServerSides,
  tried: ReadonlySet<number>,
  limits: boolean,
  now: number,
  random: Random,
  originOf: (s: ServerState) => string,
): number {
  let atLimit = false;
  let latencySum = 0;
  let measured = 0;
  const ups: ServerSide[] = [];
  const fold = g.settings.choice === 'least-request' || g.settings.choice === 'least-delay';
  for (let i = 0; i < app.servers.length; i++) {
    const s = app.servers[i]!;
    const up = upstreams.get(s.name, originOf(s), g.settings);
    up.server = s;
    ups.push(up);
    const usable = app.pool.isAvailable(i);
    // Back in rotation (health, an operator, the manager's level): ramp up from a tenth.
    if (usable && up.wasAvailable === false) up.watch.rampFrom = now;
    up.wasAvailable = usable;
    const c = g.candidates[i]!;
    c.inFlight = up.inFlight;
    const ramp = rampOf(up.watch, now, g.watch);
    c.capacity = s.capacity * ramp;
    c.available = usable && !tried.has(i);
    c.cost = undefined;
    if (c.available && isEjected(up.watch, now)) {
      // Its time out is up and no probe is out: this request is the probe.
      if (takeProbe(up.watch, now)) return i;
      c.available = false;
    }
    const f =
      c.available && (fold || g.settings.serverLimit === 'slots')
        ? serverFigures(app, i, up, now)
        : undefined;
    if (limits && c.available && c.inFlight >= limitOf(s, g.settings, up, f?.others ?? 0, ramp)) {
      c.available = false;
      atLimit = true;
    }
    if (f && fold) {
      // The server's whole load, not only this gateway's share of it.
      const load = f.others + up.inFlight + 1;
      c.cost =
        g.settings.choice === 'least-delay'
          ? (load / f.slots) * f.service // slow start through its limit, which a cost would not bound
          : load / c.capacity;
    }
    if (up.watch.latency > 0) {
      latencySum += up.watch.latency;
      measured++;
    }
  }
  let i: number;
  switch (g.settings.choice) {
    case 'round-robin':
      i = g.roundRobin.pick(g.candidates, tried);
      break;
    case 'interval': {
      // Document 002's choice on LM (the redirect pool's, referrals counted), when the server it
      // draws can take the request; otherwise the least-request choice among those that can.
      const drawn = app.pool.pick(now, random, {});
      i = drawn >= 0 && g.candidates[drawn]!.available ? drawn : leastRequest(g.candidates, random, tried);
      break;
    }
    case 'peak-ewma': {
      const typical = measured > 0 ? latencySum / measured : 0;
      for (let k = 0; k < g.candidates.length; k++) {
        const c = g.candidates[k]!;
        c.cost = costOf(ups[k]!.watch, c.inFlight, app.servers[k]!.capacity, now, g.watch, typical);
      }
      i = leastRequest(g.candidates, random, tried);
      break;
    }
    case 'least-delay': {
      // Delays in ms need every candidate's figures; without them, least request.
      let all = true;
      for (const c of g.candidates) if (c.available && c.cost === undefined) all = false;
      if (!all) for (const c of g.candidates) c.cost = undefined;
      i = all ? leastCost(g.candidates, random, tried) : leastRequest(g.candidates, random, tried);
      break;
    }
    default:
      i = leastRequest(g.candidates, random, tried);
  }
  return i >= 0 ? i : atLimit ? FULL : NONE;
}

/**
 * What the gateway saw of one exchange with a server: its time to the response's headers, and
 * whether it failed (no connection, no answer, a 5xx). True when it ejected the server now.
 */
export function noteOutcome(
  g: AppGateway,
  up: ServerSide,
  ms: number,
  ok: boolean,
  now: number,
  upstreams: ServerSides,
): boolean {
  observe(up.watch, ms, ok, now, g.watch);
  if (ok) return false;
  let ejectedNow = 0;
  for (const s of g.app.servers) {
    const w = upstreams.peek(s.name)?.watch;
    if (w && isEjected(w, now)) ejectedNow++;
  }
  return maybeEject(up.watch, now, g.watch, ejectedNow, g.app.servers.length, g.settings.maxEjected);
}
