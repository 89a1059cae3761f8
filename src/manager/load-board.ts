import type { Site } from '../config/schema.js';
import {
  DEFAULT_LOAD_REFERENCE,
  type LoadValueParams,
  loadValue,
  type QueueFigures,
} from '../core/load-value.js';
import {
  DEFAULT_SWAMP_PARAMS,
  recentFlips,
  type SwampParams,
  type SwampReason,
  swampedReason,
} from '../core/swamped.js';
import {
  initialLevel,
  type LevelParams,
  type LoadLevel,
  type LoadLevelName,
  nextLevel,
  type Readings,
  type ThresholdSpec,
} from '../core/thresholds.js';
import type { ServerLoad } from '../protocol/messages.js';

/**
 * The manager's view of every server's load: the figures its agent last reported, the
 * dynamic load value L computed from them, a longer-run average, the load level with its
 * hysteresis, whether there is positive evidence it is down, and per application whether it
 * is swamped. Pure: the clock reading is an argument, so it is tested without waiting.
 *
 * What follows from it: `loads()` is what every interceptor is told; `redirects()` says
 * which servers' interfaces should send stateless users away (level max, its applications
 * not swamped, the figures fresh).
 *
 * @example
 * const b = new LoadBoard(servers, apps, params, 0);
 * b.report('web-a', figures, 0, {}, 0);
 * b.loads(250); // [{ server: 'web-a', L: 9000, level: 'normal', ... }]
 */

export interface BoardServer {
  name: string;
  thresholds: ThresholdSpec[];
}

export interface BoardApp {
  name: string;
  servers: string[];
}

export interface BoardParams {
  load: LoadValueParams;
  level: LevelParams;
  swamp: SwampParams;
  /** Time constant of the longer-run average of L, ms. */
  averageWindow: number;
  /** Figures older than this no longer move levels or redirect, ms. */
  stale: number;
  /** Time constant of the queue readings that move levels, ms (0: each report as it is). */
  levelWindow: number;
}

/**
 * Levels move on queue readings averaged over about a second, not on each report: one
 * 25 ms interval's queue delay swings by half on a steadily loaded server (a handful of
 * requests started in it), and levels that follow it flap between normal and heavy
 * (issue 27: 18 level events in two runs of the README's demo). A real overload still
 * shows within about a second.
 */
export const LEVEL_WINDOW = 1000;

/**
 * How often the manager's tick runs (load values, levels, server-side redirects, a full push):
 * the report interval, but not below 100 ms. Fresh figures are passed on as they arrive
 * anyway; a tick as fast as a 25 ms report would repeat them forty times a second.
 */
export function tickInterval(reportInterval: number): number {
  return Math.max(reportInterval, 100);
}

/** The board's parameters from the site file's manager section (the manager and the lab's simulator share it). */
export function boardParams(m: NonNullable<Site['manager']>): BoardParams {
  return {
    load: { basis: m.load.basis, reference: m.load.reference ?? DEFAULT_LOAD_REFERENCE[m.load.basis] },
    level: { hysteresis: m.hysteresis, hold: m.hold },
    swamp: DEFAULT_SWAMP_PARAMS,
    averageWindow: m.averageWindow,
    // Four report intervals without figures: the agent is late or gone.
    stale: Math.max(4 * m.reportInterval, 1000),
    levelWindow: LEVEL_WINDOW,
  };
}

export interface BoardEvent {
  source: string;
  code: string;
  level: 'info' | 'warn' | 'error';
  text: string;
}

interface ServerEntry {
  cfg: BoardServer;
  /** Its place in the site file: loads are listed in that order. */
  index: number;
  apps: AppEntry[];
  figures: QueueFigures | undefined;
  measuredAt: number;
  L: number;
  average: number | undefined;
  /** The queue readings levels move on, averaged over about `levelWindow`. */
  smoothed: { queueLength: number; queueDelay: number } | undefined;
  /** Requests arriving a second, and what the server can serve a second (slots over its mean service time), averaged like `smoothed`. */
  flow: { arriving: number; capacity: number } | undefined;
  level: LoadLevel;
  failed: string | undefined;
}

interface AppEntry {
  cfg: BoardApp;
  members: ServerEntry[];
  flips: number[];
  swamped: SwampReason | undefined;
  /** When it last became swamped. */
  swampedAt: number;
  /**
   * Members that are idle but for their figures' freshness (see `idle`): one of them fresh
   * settles that the application is not swamped without reading every member. A member that
   * goes stale here is dropped when found so; only new figures make it fresh again.
   */
  idleish: Set<ServerEntry>;
}

export class LoadBoard {
  private readonly servers = new Map<string, ServerEntry>();
  private readonly apps: AppEntry[];
  private events: BoardEvent[] = [];
  /** The swamped applications' names, as `loads` lists them (undefined: to work out again). */
  private swampedNames: string[] | undefined = [];
  /** The latest clock reading seen: stale members are dropped from `idleish` only while time runs forward. */
  private latest = -Infinity;

  constructor(
    servers: readonly BoardServer[],
    apps: readonly BoardApp[],
    private readonly params: BoardParams,
    now: number,
  ) {
    for (const cfg of servers)
      this.servers.set(cfg.name, {
        cfg,
        index: this.servers.size,
        apps: [],
        figures: undefined,
        measuredAt: 0,
        L: 10_000,
        average: undefined,
        smoothed: undefined,
        flow: undefined,
        level: initialLevel(now),
        failed: undefined,
      });
    this.apps = apps.map((cfg) => {
      const app: AppEntry = {
        cfg,
        members: [],
        flips: [],
        swamped: undefined,
        swampedAt: 0,
        idleish: new Set(),
      };
      for (const n of cfg.servers) {
        const s = this.servers.get(n);
        if (!s) continue;
        app.members.push(s);
        s.apps.push(app);
      }
      return app;
    });
  }

  has(server: string): boolean {
    return this.servers.has(server);
  }

  /**
   * An agent's figures for one server, measured at `measuredAt` (manager clock), with its
   * host's CPU and memory use. Updates L, the average and the level. Touches that server and
   * the applications it is in, nothing else (issue 29): the others age on the tick.
   */
  report(server: string, f: QueueFigures, measuredAt: number, host: Readings, now: number): void {
    const s = this.servers.get(server);
    if (!s) return;
    const wasIdle = this.idle(s, now);
    const slotsBefore = s.figures?.slots;
    const dt = s.figures === undefined ? 0 : Math.max(0, measuredAt - s.measuredAt);
    const before = s.figures;
    s.figures = f;
    s.measuredAt = measuredAt;
    this.syncIdle(s);
    s.L = loadValue(f, this.params.load);
    const k = this.params.averageWindow > 0 ? 1 - Math.exp(-dt / this.params.averageWindow) : 1;
    s.average = s.average === undefined ? s.L : s.average + (s.L - s.average) * k;
    const raw = { queueLength: f.queueLength / Math.max(1, f.slots), queueDelay: f.queueDelay };
    const w = this.params.levelWindow;
    const kl = w > 0 && s.smoothed ? 1 - Math.exp(-dt / w) : 1;
    const prev = s.smoothed ?? raw;
    s.smoothed = {
      queueLength: prev.queueLength + (raw.queueLength - prev.queueLength) * kl,
      queueDelay: prev.queueDelay + (raw.queueDelay - prev.queueDelay) * kl,
    };
    if (before && dt > 0) {
      // What came in between the two reports: what is in it now, less what was, plus what finished.
      const arrived = Math.max(0, f.queueLength + f.busy - before.queueLength - before.busy + f.requests);
      const arriving = (arrived * 1000) / dt;
      const capacity = f.serviceTime > 0 ? (f.slots * 1000) / f.serviceTime : s.flow?.capacity;
      const p = s.flow ?? { arriving, capacity: capacity ?? 0 };
      s.flow = {
        arriving: p.arriving + (arriving - p.arriving) * kl,
        capacity: capacity === undefined ? p.capacity : p.capacity + (capacity - p.capacity) * kl,
      };
    }
    // Built key by key: a spread of the two costs three quarters of a report (V8 copies objects
    // of changing shapes slowly), and a report is made 100,000 times a second at 1,000 servers.
    const readings: Readings = { queueLength: s.smoothed.queueLength, queueDelay: s.smoothed.queueDelay };
    for (const k in host) readings[k as keyof Readings] = host[k as keyof Readings];
    this.setLevel(s, nextLevel(s.level, readings, s.cfg.thresholds, this.params.level, now), now);
    if (this.idle(s, now) !== wasIdle || f.slots !== slotsBefore) this.updateSwamp(now, s.apps);
  }

  /** Positive evidence the server is down (reason), or that it is back (undefined). */
  setFailed(server: string, reason: string | undefined, now: number): void {
    const s = this.servers.get(server);
    if (!s || s.failed === reason) return;
    const was = s.failed;
    s.failed = reason;
    this.syncIdle(s);
    if (reason !== undefined && was === undefined)
      this.events.push({
        source: server,
        code: 'server.down',
        level: 'error',
        text: `${server} is down: ${reason}`,
      });
    else if (reason === undefined)
      this.events.push({ source: server, code: 'server.up', level: 'info', text: `${server} is back` });
    this.updateSwamp(now, s.apps);
  }

  /**
   * Ages figures: a server whose figures went stale drops back to normal. Every application's
   * swamped state is worked out again here, as time alone changes it (a member's figures going
   * stale, level flips leaving the window, the hold running out); a report works out only its
   * own server's applications.
   */
  tick(now: number): void {
    for (const s of this.servers.values()) {
      if (s.level.level !== 'normal' && !this.fresh(s, now)) this.setLevel(s, initialLevel(now), now);
    }
    this.updateSwamp(now);
  }

  /**
   * What interceptors are told: every server with figures or a failure, or only those
   * named in `only` (the ones whose figures just came in).
   */
  loads(now: number, only?: ReadonlySet<string>): { servers: ServerLoad[]; swamped: string[] } {
    let entries: Iterable<ServerEntry> = this.servers.values();
    if (only) {
      // Only those named, in the site file's order, as when every server was filtered.
      const named: ServerEntry[] = [];
      for (const n of only) {
        const s = this.servers.get(n);
        if (s) named.push(s);
      }
      entries = named.length > 1 ? named.sort((a, b) => a.index - b.index) : named;
    }
    const servers: ServerLoad[] = [];
    for (const s of entries) {
      if (s.figures === undefined && s.failed === undefined) continue;
      servers.push({
        server: s.cfg.name,
        L: s.L,
        ...(s.figures ? { figures: s.figures } : {}),
        age: Math.min(1e10, Math.max(0, now - s.measuredAt)),
        level: s.level.level,
        failed: s.failed !== undefined,
        ...(s.average !== undefined ? { average: Math.round(s.average) } : {}),
      });
    }
    this.swampedNames ??= this.apps.filter((a) => a.swamped).map((a) => a.cfg.name);
    return { servers, swamped: [...this.swampedNames] };
  }

  /** Servers whose interface should redirect stateless users away now. */
  redirects(now: number): Set<string> {
    const out = new Set<string>();
    for (const s of this.servers.values()) {
      if (s.level.level !== 'max' || s.failed !== undefined || !this.fresh(s, now)) continue;
      if (s.apps.some((a) => a.swamped)) continue;
      out.add(s.cfg.name);
    }
    return out;
  }

  /** One server's state, for status views and tests. */
  server(
    name: string,
  ): { L: number; level: LoadLevelName; failed?: string; average?: number; measuredAt: number } | undefined {
    const s = this.servers.get(name);
    if (!s) return undefined;
    return { L: s.L, level: s.level.level, failed: s.failed, average: s.average, measuredAt: s.measuredAt };
  }

  swamped(app: string): SwampReason | undefined {
    return this.apps.find((a) => a.cfg.name === app)?.swamped;
  }

  /** State changes since the last call, for the log and the store. */
  drainEvents(): BoardEvent[] {
    const e = this.events;
    this.events = [];
    return e;
  }

  private fresh(s: ServerEntry, now: number): boolean {
    return s.figures !== undefined && now - s.measuredAt <= this.params.stale;
  }

  /** A free slot and nothing waiting, at its normal level: moving users to it helps. */
  private idle(s: ServerEntry, now: number): boolean {
    const f = s.figures;
    return (
      f !== undefined &&
      this.fresh(s, now) &&
      s.level.level === 'normal' &&
      f.queueLength === 0 &&
      f.busy < f.slots
    );
  }

  private setLevel(s: ServerEntry, next: LoadLevel, now: number): void {
    if (next.level === s.level.level) return;
    const from = s.level.level;
    s.level = next;
    this.syncIdle(s);
    for (const a of s.apps) a.flips.push(now);
    this.events.push({
      source: s.cfg.name,
      code: `server.level.${next.level}`,
      level: next.level === 'normal' ? 'info' : 'warn',
      text: `${s.cfg.name} went from ${from} to ${next.level} load`,
    });
    this.updateSwamp(now, s.apps);
  }

  /** Whether the server is idle but perhaps for its figures' age, in each of its applications' `idleish`. */
  private syncIdle(s: ServerEntry): void {
    const f = s.figures;
    const idleish =
      s.failed === undefined &&
      f !== undefined &&
      s.level.level === 'normal' &&
      f.queueLength === 0 &&
      f.busy < f.slots;
    for (const a of s.apps) {
      if (idleish) a.idleish.add(s);
      else a.idleish.delete(s);
    }
  }

  /** Whether a member of the application is idle now (not failed): `idle` of every member, short of reading them all. */
  private anyIdle(a: AppEntry, now: number): boolean {
    if (now < this.latest) {
      // The clock went back: members dropped as stale may be fresh again at this reading.
      a.idleish.clear();
      for (const m of a.members) this.syncIdle(m);
    }
    this.latest = Math.max(this.latest, now);
    for (const m of a.idleish) {
      if (this.fresh(m, now)) return true;
      a.idleish.delete(m);
    }
    return false;
  }

  /** Works out whether the applications (every one unless named) are swamped now. */
  private updateSwamp(now: number, apps: readonly AppEntry[] = this.apps): void {
    for (const a of apps) {
      a.flips = recentFlips(a.flips, this.params.swamp, now);
      let reason: SwampReason | undefined;
      // An idle member settles it (swampedReason is undefined with one), so the members
      // are read one by one only when none is: the exception in a healthy site.
      if (!this.anyIdle(a, now)) reason = this.swampReason(a, now);
      if (reason === a.swamped) continue;
      // A swamped application stays so for at least a level's hold: leaving it puts servers
      // out of rotation again, and at the edge of an overload it would flap, each time
      // sending every door's users onto the few servers left.
      if (a.swamped && !reason && now - a.swampedAt < this.params.level.hold) continue;
      if (reason && !a.swamped) a.swampedAt = now;
      this.events.push(
        reason
          ? {
              source: a.cfg.name,
              code: 'application.swamped',
              level: 'warn',
              text: `${a.cfg.name} is swamped (${reason}): every available server back in rotation, no server-side redirecting`,
            }
          : {
              source: a.cfg.name,
              code: 'application.normal',
              level: 'info',
              text: `${a.cfg.name} is no longer swamped`,
            },
      );
      a.swamped = reason;
      this.swampedNames = undefined;
    }
  }

  /** Why the application is swamped, from every member, or undefined. */
  private swampReason(a: AppEntry, now: number): SwampReason | undefined {
    // A server without fresh figures can still take users: it counts as normal.
    const up = a.members.filter((m) => m.failed === undefined);
    const levels = up.map((m) => (this.fresh(m, now) ? m.level.level : 'normal'));
    const idle = up.filter((m) => this.idle(m, now)).length;
    // Capacity in slots; a server that has sent no figures yet counts as a typical one.
    const known = up.filter((m) => m.figures !== undefined);
    const typical = known.length > 0 ? known.reduce((t, m) => t + m.figures!.slots, 0) / known.length : 1;
    const weights = up.map((m) => Math.max(1, m.figures?.slots ?? typical));
    // No room: the servers still in rotation cannot take what the heavy ones are getting.
    let room = 0;
    let displaced = 0;
    for (const m of up) {
      if (!m.flow || !this.fresh(m, now)) continue;
      if (m.level.level === 'normal') room += m.flow.capacity - m.flow.arriving;
      else displaced += m.flow.arriving;
    }
    const noRoom = displaced > 0 && displaced > room;
    return swampedReason(levels, a.flips, this.params.swamp, now, idle, weights, noRoom);
  }
}
