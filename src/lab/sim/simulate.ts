import { type Random, seededRandom } from '../../core/random.js';
import { followService, reportEvery } from '../../core/report-interval.js';
import { refreshInterval } from '../../interceptor/site-state.js';
import { boardParams, LoadBoard, tickInterval } from '../../manager/load-board.js';
import { type ContenderSpec, label } from '../contenders.js';
import { labSite, type SwitchyardMode } from '../lab-site.js';
import {
  doorShares,
  offeredRate,
  pickDoor,
  type Scenario,
  sessionRate,
  slotsOf,
  speedFactor,
} from '../scenario.js';
import { addRequest, ERROR, newRecords, OK, type RecordColumns, TIMEOUT } from '../summary.js';
import { type Door, GatewayDoor, ProxyDoor, type Routed, SwitchyardDoor } from './doors.js';
import { EventQueue } from './event-queue.js';
import { type Job, SimServer, serviceSampler } from './sim-server.js';

/**
 * One simulated run of a scenario against one contender: Poisson arrivals (open loop, each
 * latency timed from the request's intended start), the scenario's doors, bypass and
 * sessions, M/M/c servers with FIFO queues, and for Switchyard's dynamic mode the agent and
 * manager on their report intervals, with the real LoadBoard and the real interceptor
 * decision. Time 0 is the start of the measured run; the warm-up runs before it.
 *
 * @example
 * const run = simulate(loadScenario('bench/lab/scenarios/uneven.yaml'), { name: 'lc' }, 1);
 * summarize(run).routed.p99;
 */

/** What a run leaves: one entry per scored request, in columns. */
export interface RunRecord extends RecordColumns {
  scenario: string;
  contender: string;
  seed: number;
  /** Each server's requests in the system (waiting + in service), sampled every 250 ms. */
  queueSamples: number[][];
}

interface Session {
  first: number;
  total: number;
  left: number;
  ok: boolean;
  scored: boolean;
}

interface Req {
  t0: number;
  bypass: boolean;
  door: number;
  session: Session | undefined;
  /** The server a redirect sent it away from (Switchyard's server-side redirect). */
  moved: number | undefined;
}

const SAMPLE_EVERY = 250;

export function simulate(s: Scenario, c: ContenderSpec, seed: number): RunRecord {
  const arrivalsRnd = seededRandom(seed * 7919 + 1);
  const serviceRnd = seededRandom(seed * 7919 + 2);
  const policyRnd = seededRandom(seed * 7919 + 3);
  const q = new EventQueue();
  q.now = -s.warmup;
  const d2 = s.addedDelay / 2;
  const names = s.servers.map((x) => x.name);
  const servers = s.servers.map(
    (x) =>
      new SimServer(
        q,
        x.name,
        slotsOf(x.strength),
        serviceSampler(s, (t) => speedFactor(s, x.name, t), serviceRnd),
      ),
  );
  const redirecting = servers.map(() => false);
  const doors = makeDoors(s, c, names, policyRnd, q.now);
  // Arrivals go on past the measured run so its last requests meet the same load; ticks
  // stop a little later, and the queue then drains.
  const stopArrivals = s.duration + (s.sessions ? 10 * s.sessions.think + s.timeout : s.timeout);
  const stopTicks = stopArrivals + 2 * s.timeout;
  const scheduleEvery = (period: number, phase: number, fn: () => void) => {
    const loop = () => {
      fn();
      if (q.now + period < stopTicks) q.after(period, loop);
    };
    q.at(q.now + phase, loop);
  };
  // Servers that join later are out of rotation, and report nothing, until they start.
  const present = s.servers.map((x) => x.start === undefined);
  s.servers.forEach((x, i) => {
    if (x.start === undefined) return;
    for (const d of doors) d.setPresent(i, false, q.now);
    q.at(x.start, () => {
      present[i] = true;
      for (const d of doors) d.setPresent(i, true, q.now);
    });
  });
  if (c.name === 'switchyard' || c.name === 'gateway')
    wireManager(s, c, q, servers, present, doors, redirecting, policyRnd, scheduleEvery, stopTicks);

  const rec: RunRecord = {
    ...newRecords(s.duration, names),
    scenario: s.name,
    contender: label(c),
    seed,
    queueSamples: names.map(() => []),
  };
  scheduleEvery(SAMPLE_EVERY, SAMPLE_EVERY, () => {
    if (q.now < 0 || q.now >= s.duration) return;
    servers.forEach((srv, i) => {
      rec.queueSamples[i]!.push(srv.busy + srv.queueLength);
    });
  });

  const shares = doorShares(s);
  const bypassTo = s.bypass ? names.indexOf(s.bypass.server) : -1;
  const finish = (req: Req, now: number, server: number, outcome: number) => {
    const { outcome: o, latency } = addRequest(rec, s.timeout, req.t0, now, req.bypass, outcome, server);
    const ses = req.session;
    if (!ses) return;
    ses.total += latency;
    if (o !== OK) ses.ok = false;
    if (o === OK && ses.left > 0) {
      ses.left--;
      const next = now + expo(arrivalsRnd, s.sessions!.think);
      // A follow-up goes where the browser is: through the proxy, or straight to the server
      // that answered (a redirect put the browser there).
      q.at(next, () => {
        const f: Req = { t0: next, bypass: req.bypass, door: req.door, session: ses, moved: undefined };
        if (!req.bypass && doors[req.door]!.kind === 'proxy') q.at(next + d2, () => atDoor(f));
        else q.at(next + d2, () => atServer(f, server, false));
      });
    } else if (ses.scored) {
      rec.sessionTotal.push(ses.total);
      rec.sessionOk.push(ses.ok ? 1 : 0);
    }
  };

  const atServer = (req: Req, i: number, viaProxy: boolean) => {
    const now = q.now;
    if (!req.bypass && now >= 0 && now < s.duration) rec.arrivals[Math.floor(now / 1000)]![i]!++;
    // Switchyard's server-side redirect: a stateless request is sent back to the door once.
    if (redirecting[i] && !viaProxy && req.moved === undefined) {
      req.moved = i;
      q.at(now + 2 * d2, () => atDoor(req));
      return;
    }
    const job: Job = {
      deadline: req.t0 + s.timeout,
      arrived: now,
      done: (t, ok) => {
        if (viaProxy) doors[req.door]!.finished(i, t);
        const back = t + d2;
        if (ok) q.at(back, () => finish(req, q.now, i, OK));
        else finish(req, Math.max(t, back), i, t >= req.t0 + s.timeout ? TIMEOUT : ERROR);
      },
    };
    servers[i]!.arrive(job);
  };

  const atDoor = (req: Req) => {
    const door = doors[req.door]!;
    const r: Routed = {
      deadline: req.t0 + s.timeout,
      ...(req.moved !== undefined ? { exclude: req.moved } : {}),
      go: (i) => {
        const now = q.now;
        if (i < 0) return finish(req, now + d2, -1, now >= req.t0 + s.timeout ? TIMEOUT : ERROR);
        if (door.kind === 'proxy') atServer(req, i, true);
        else q.at(now + 2 * d2, () => atServer(req, i, false));
      },
    };
    door.route(q.now, r);
  };

  // Arrivals: a Poisson process thinned to the scenario's rate at each moment.
  const rateAt = (t: number) =>
    s.sessions ? sessionRate(s, Math.max(0, t)) : offeredRate(s, Math.max(0, t));
  let peak = 0;
  for (let t = 0; t < s.duration; t += 100) peak = Math.max(peak, rateAt(t));
  peak = Math.max(peak, rateAt(0));
  const arrive = () => {
    const t = q.now;
    if (arrivalsRnd() * peak < rateAt(t)) {
      const bypass = s.bypass !== undefined && arrivalsRnd() < s.bypass.share;
      const session: Session | undefined = s.sessions
        ? {
            first: t,
            total: 0,
            left: geometric(arrivalsRnd, s.sessions.followUps),
            ok: true,
            scored: t >= 0 && t < s.duration,
          }
        : undefined;
      const req: Req = {
        t0: t,
        bypass,
        door: bypass ? 0 : pickDoor(shares, arrivalsRnd()),
        session,
        moved: undefined,
      };
      if (bypass) q.at(t + d2, () => atServer(req, bypassTo, false));
      else q.at(t + d2, () => atDoor(req));
    }
    const next = t + expo(arrivalsRnd, 1000 / peak);
    if (next < stopArrivals) q.at(next, arrive);
  };
  q.at(q.now, arrive);
  q.run(Infinity);
  return rec;
}

function makeDoors(s: Scenario, c: ContenderSpec, names: string[], random: Random, now: number): Door[] {
  const strengths = s.servers.map((x) => x.strength);
  const ones = strengths.map(() => 1);
  const make = (): Door => {
    switch (c.name) {
      case 'switchyard':
      case 'switchyard-static': {
        const mode: SwitchyardMode = c.name === 'switchyard' ? 'dynamic' : 'static';
        const urls = names.map((_, i) => `http://127.0.0.1:${20_000 + i}`);
        const site = labSite(s, {
          mode,
          urls,
          ...(c.reportInterval ? { reportInterval: c.reportInterval } : {}),
        });
        return new SwitchyardDoor(site, names, random, now);
      }
      case 'lc':
        return new ProxyDoor({ rule: 'leastconn', weights: ones }, random);
      case 'lc-w':
        return new ProxyDoor({ rule: 'leastconn', weights: strengths }, random);
      case 'lc-q':
        return new ProxyDoor(
          { rule: 'leastconn', weights: strengths, maxconn: s.servers.map((x) => slotsOf(x.strength)) },
          random,
        );
      case 'rr-w':
        return new ProxyDoor({ rule: 'roundrobin', weights: strengths }, random);
      case 'redir':
        return new ProxyDoor({ rule: 'roundrobin', weights: strengths, redirect: true }, random);
      case 'nginx-lc':
        return new ProxyDoor({ rule: 'least_conn', weights: strengths }, random);
      case 'gateway': {
        const urls = names.map((_, i) => `http://127.0.0.1:${20_000 + i}`);
        // LAB_GATEWAY='{"choice":"least-delay"}': the gateway with other settings, as in the lab.
        const proxy = process.env.LAB_GATEWAY
          ? (JSON.parse(process.env.LAB_GATEWAY) as Record<string, unknown>)
          : true;
        return new GatewayDoor(labSite(s, { mode: 'dynamic', urls, proxy }), names, random, now);
      }
    }
  };
  return Array.from({ length: s.doors }, make);
}

/**
 * The agent and the manager of the dynamic mode: every report interval the agent reads each
 * server's interval figures and the manager stores them and passes them on to every door at
 * once (the lab's one host; the link's own delay is well under a millisecond); on its own
 * tick, every report interval, the manager pushes every load value again (levels age there)
 * and tells overloaded servers to redirect.
 */
function wireManager(
  s: Scenario,
  c: ContenderSpec,
  q: EventQueue,
  servers: SimServer[],
  present: readonly boolean[],
  doors: Door[],
  redirecting: boolean[],
  random: Random,
  every: (period: number, phase: number, fn: () => void) => void,
  stopTicks: number,
): void {
  const site = labSite(s, {
    mode: 'dynamic',
    urls: servers.map((_, i) => `http://127.0.0.1:${20_000 + i}`),
    ...(c.reportInterval ? { reportInterval: c.reportInterval } : {}),
  }).site;
  const m = site.manager!;
  const I = m.reportInterval;
  const board = new LoadBoard(
    site.servers.map((x) => ({ name: x.name, thresholds: x.thresholds ?? m.thresholds })),
    site.applications.map((a) => ({ name: a.name, servers: a.servers })),
    boardParams(m),
    q.now,
  );
  // The agent reports as src/agent/agent.ts does: every reportEvery(...) ms, faster for fast
  // servers (core/report-interval.ts).
  const followed = servers.map(() => 0);
  const report = () => {
    const now = q.now;
    servers.forEach((srv, i) => {
      if (!present[i]) return;
      const f = srv.figures();
      followed[i] = followService(followed[i]!, f.serviceTime, f.requests);
      board.report(srv.name, f, now, {}, now);
    });
    // The manager passes new figures on at once (src/manager/manager.ts, onFigures).
    const msg = { ...board.loads(now), doors: doors.length };
    for (const d of doors) d.load(msg, now);
    const next = reportEvery(I, followed);
    if (q.now + next < stopTicks) q.after(next, report);
  };
  q.at(q.now + random() * I, report);
  const T = tickInterval(I);
  every(T, random() * T, () => {
    const now = q.now;
    board.tick(now);
    const msg = { ...board.loads(now), doors: doors.length };
    for (const d of doors) d.load(msg, now);
    const want = board.redirects(now);
    servers.forEach((srv, i) => {
      redirecting[i] = want.has(srv.name);
    });
  });
  // The interceptor ages the manager's word on its own tick.
  const R = refreshInterval(I);
  every(R, random() * R, () => {
    for (const d of doors) d.tick(q.now);
  });
}

/** An exponential draw with the given mean. */
function expo(random: Random, mean: number): number {
  return -Math.log(1 - random()) * mean;
}

/** Follow-ups of a session: geometric on 0, 1, 2, ... with the given mean. */
function geometric(random: Random, mean: number): number {
  if (mean <= 0) return 0;
  const p = 1 / (1 + mean);
  return Math.floor(Math.log(1 - random()) / Math.log(1 - p));
}
