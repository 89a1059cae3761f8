import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { duration } from '../config/duration.js';
import { parseYamlFile } from '../config/load.js';
import { SwitchyardError } from '../errors.js';

/**
 * A scenario of the balancing lab (issue 8): the servers and their strengths, the service
 * time, the offered load over time, speed changes, how many independent doors the contender
 * runs and how the load splits among them, traffic that bypasses the balancer, and the
 * session mode. One small YAML file each under bench/lab/scenarios/; the lab (real
 * processes) and the simulator (a fake clock) read the same files through this one schema,
 * so what is tuned in the simulator is what the lab confirms.
 *
 * A server of strength s has 2·s slots and one FIFO queue; with the default 20 ms mean
 * service time one strength unit serves about 100 requests a second. Loads are shares of
 * the servers' total capacity at their normal speed.
 *
 * @example
 * const s = loadScenario('bench/lab/scenarios/uneven.yaml');
 * capacity(s);          // 800 (requests a second: strengths 1+1+2+4, 100 each)
 * offeredRate(s, 0);    // 560 (70 % of it)
 */

const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected lower-case letters, digits and dashes');
const share = (what: string) => z.number().min(0).max(10).meta({ description: what });

const service = z.discriminatedUnion('distribution', [
  z.strictObject({
    distribution: z.literal('exponential'),
    mean: duration('Mean service time.').default(20),
  }),
  z.strictObject({
    distribution: z.literal('lognormal'),
    mean: duration('Mean service time.').default(20),
    /** The σ of the underlying normal: 0.5 is mild, 1.5 a long tail. */
    sigma: z.number().positive().max(4),
  }),
  z.strictObject({ distribution: z.literal('fixed'), mean: duration('Service time.').default(20) }),
]);

const loadStep = z.strictObject({
  at: duration('When the step begins, from the start of the measured run.'),
  share: share('Offered load from then on, as a share of total capacity.'),
});

const speedChange = z.strictObject({
  server: name,
  from: duration('When the change begins.'),
  to: duration('When the server is back to normal; absent: until the end.').optional(),
  /** Service time multiplier: 4 is four times slower. */
  factor: z.number().positive().max(1000),
});

export const scenarioSchema = z
  .strictObject({
    name,
    description: z.string().min(1).max(2000),
    /** Measured time of one run (the lab's `--quick` shortens it). */
    duration: duration('Measured time of one run.').default(60_000),
    warmup: duration('Load before the measured run, not scored.').default(5_000),
    servers: z
      .array(
        z.strictObject({
          name,
          strength: z.number().positive().max(64),
          /** A server that joins the running site: out of rotation until then (simulator only). */
          start: duration('When the server joins, from the start of the measured run.').optional(),
        }),
      )
      .min(1)
      .max(64),
    service: service.default({ distribution: 'exponential', mean: 20 }),
    /** A share of total capacity, or steps over time (the first at 0). */
    load: z.union([share('Offered load, as a share of total capacity.'), z.array(loadStep).min(1).max(100)], {
      error: 'expected a share of total capacity such as 0.7, or a list of steps { at, share }',
    }),
    speed: z.array(speedChange).max(100).default([]),
    /** Independent instances of the contender (front doors). */
    doors: z.number().int().min(1).max(64).default(1),
    /** Each door's share of the routed load; absent: even. */
    split: z.array(z.number().positive()).optional(),
    /** Load sent straight to one server, past every door, as a share of the offered load. */
    bypass: z.strictObject({ share: z.number().min(0).max(1), server: name }).optional(),
    /**
     * Session mode: a first request through a door, then follow-ups where the browser is.
     * The load counts every request, follow-ups included: sessions begin at
     * rate / (1 + followUps).
     */
    sessions: z
      .strictObject({
        /** Mean follow-ups a session (geometric). */
        followUps: z.number().min(0).max(1000).default(5),
        think: duration('Mean think time between a session’s requests (exponential).').default(1_000),
      })
      .optional(),
    /**
     * Added to every client round trip, as the internet adds it: a redirect hop costs this.
     * 20 ms unless a scenario says (issue 27); `--round-trip 0` scores the balancing alone.
     */
    addedDelay: duration('Delay added to every client round trip.').default(20),
    /** The load generator's time-out, the same for every contender. */
    timeout: duration('Client time-out.').default(2_000),
  })
  .superRefine((s, ctx) => {
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const names = new Set<string>();
    s.servers.forEach((srv, i) => {
      if (names.has(srv.name)) issue(['servers', i, 'name'], `"${srv.name}" is named twice`);
      names.add(srv.name);
    });
    const known = (n: string) => names.has(n);
    s.servers.forEach((srv, i) => {
      if (srv.start !== undefined && srv.start >= s.duration)
        issue(['servers', i, 'start'], 'begins after the run ends');
    });
    s.speed.forEach((c, i) => {
      if (!known(c.server)) issue(['speed', i, 'server'], `no server "${c.server}"`);
      if (c.to !== undefined && c.to <= c.from) issue(['speed', i, 'to'], 'must be after "from"');
    });
    if (s.bypass && !known(s.bypass.server)) issue(['bypass', 'server'], `no server "${s.bypass.server}"`);
    const steps = s.load;
    if (Array.isArray(steps)) {
      if (steps[0]!.at !== 0) issue(['load', 0, 'at'], 'the first step begins at 0');
      steps.forEach((step, i) => {
        if (i > 0 && step.at <= steps[i - 1]!.at) issue(['load', i, 'at'], 'steps must be in time order');
        if (step.at >= s.duration) issue(['load', i, 'at'], 'begins after the run ends');
      });
    }
    if (s.split) {
      if (s.split.length !== s.doors) issue(['split'], `expected one share for each of the ${s.doors} doors`);
      const sum = s.split.reduce((a, b) => a + b, 0);
      if (Math.abs(sum - 1) > 1e-6) issue(['split'], `shares must add up to 1, not ${sum}`);
    }
  });

export type Scenario = z.infer<typeof scenarioSchema>;

/** Reads and checks a scenario file; a problem is a SwitchyardError naming the key. */
export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new SwitchyardError('SY_ERR_CONFIG', `${file}: cannot read the scenario: ${(e as Error).message}`);
  }
  return parseYamlFile(scenarioSchema, text, file);
}

/** Slots of a server of the given strength. */
export const slotsOf = (strength: number): number => Math.max(1, Math.round(2 * strength));

/** Requests a second all servers serve at their normal speed. */
export function capacity(s: Scenario): number {
  const perSlot = 1000 / s.service.mean;
  return s.servers.reduce((sum, srv) => sum + slotsOf(srv.strength) * perSlot, 0);
}

/** Offered load at `t` ms into the measured run (bypass included), requests a second. */
export function offeredRate(s: Scenario, t: number): number {
  if (!Array.isArray(s.load)) return s.load * capacity(s);
  let current = s.load[0]!.share;
  for (const step of s.load) if (step.at <= t) current = step.share;
  return current * capacity(s);
}

/** Sessions begun a second at `t` (session mode), so that all their requests make the offered load. */
export function sessionRate(s: Scenario, t: number): number {
  return offeredRate(s, t) / (1 + (s.sessions?.followUps ?? 0));
}

/** The service time multiplier of `server` at `t` ms into the measured run (1: normal). */
export function speedFactor(s: Scenario, server: string, t: number): number {
  let f = 1;
  for (const c of s.speed)
    if (c.server === server && t >= c.from && (c.to === undefined || t < c.to)) f *= c.factor;
  return f;
}

/**
 * The moments a server comes back into a scenario: the end of each of its slowdowns and its
 * start, each with its fair share (its slots over all slots).
 */
export function comebacksOf(s: Scenario): { server: number; at: number; fair: number }[] {
  const total = s.servers.reduce((a, x) => a + slotsOf(x.strength), 0);
  const out: { server: number; at: number; fair: number }[] = [];
  s.servers.forEach((x, i) => {
    const fair = slotsOf(x.strength) / total;
    if (x.start !== undefined) out.push({ server: i, at: x.start, fair });
    for (const c of s.speed)
      if (c.server === x.name && c.to !== undefined && c.factor >= 10)
        out.push({ server: i, at: c.to, fair });
  });
  return out;
}

/** Each door's share of the routed load. */
export function doorShares(s: Scenario): number[] {
  return s.split ?? Array.from({ length: s.doors }, () => 1 / s.doors);
}

/**
 * The door a routed request goes to, for a uniform draw r in [0, 1).
 *
 * @example
 * pickDoor([0.5, 0.5], 0.7); // 1
 */
export function pickDoor(shares: readonly number[], r: number): number {
  for (let i = 0; i < shares.length; i++) {
    r -= shares[i]!;
    if (r < 0) return i;
  }
  return shares.length - 1;
}
