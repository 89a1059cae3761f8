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
}

export class LoadBoard {
  private readonly servers = new Map<string, ServerEntry>();
  private readonly apps: AppEntry[];
  private events: BoardEvent[] = [];

  constructor(
    servers: readonly BoardServer[],
    apps: readonly BoardApp[],
    private readonly params: BoardParams,
    now: number,
  ) {
    for (const cfg of servers)
      this.servers.set(cfg.name, {
        cfg,
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
      const app: AppEntry = { cfg, members: [], flips: [], swamped: undefined, swampedAt: 0 };
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
   * host's CPU and memory use. Updates L, the average and the level.
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
    const readings: Readings = { ...s.smoothed, ...host };
    this.setLevel(s, nextLevel(s.level, readings, s.cfg.thresholds, this.params.level, now), now);
    if (this.idle(s, now) !== wasIdle || f.slots !== slotsBefore) this.updateSwamp(now);
  }

  /** Positive evidence the server is down (reason), or that it is back (undefined). */
  setFailed(server: string, reason: string | undefined, now: number): void {
    const s = this.servers.get(server);
    if (!s || s.failed === reason) return;
    const was = s.failed;
    s.failed = reason;
    if (reason !== undefined && was === undefined)
      this.events.push({
        source: server,
        code: 'server.down',
        level: 'error',
        text: `${server} is down: ${reason}`,
      });
    else if (reason === undefined)
      this.events.push({ source: server, code: 'server.up', level: 'info', text: `${server} is back` });
    this.updateSwamp(now);
  }

  /** Ages figures: a server whose figures went stale drops back to normal. */
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
    const servers: ServerLoad[] = [];
    for (const s of this.servers.values()) {
      if (s.figures === undefined && s.failed === undefined) continue;
      if (only && !only.has(s.cfg.name)) continue;
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
    return { servers, swamped: this.apps.filter((a) => a.swamped).map((a) => a.cfg.name) };
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
    for (const a of s.apps) a.flips.push(now);
    this.events.push({
      source: s.cfg.name,
      code: `server.level.${next.level}`,
      level: next.level === 'normal' ? 'info' : 'warn',
      text: `${s.cfg.name} went from ${from} to ${next.level} load`,
    });
    this.updateSwamp(now);
  }

  private updateSwamp(now: number): void {
    for (const a of this.apps) {
      a.flips = recentFlips(a.flips, this.params.swamp, now);
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
      const reason = swampedReason(levels, a.flips, this.params.swamp, now, idle, weights, noRoom);
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
    }
  }
}
