import { type DynamicLoad, loadMetric } from './load-metric.js';
import { expectedDelay, SentSince, type ServerQueue } from './queue-choice.js';
import type { Random } from './random.js';
import {
  countAt,
  type DecayedCount,
  MAX_FACTOR,
  newCount,
  type ReferralParams,
  referralFactor,
} from './referrals.js';
import { RoundTripEstimate } from './round-trip.js';
import { newServiceEstimate, type ServiceEstimate, serviceFor, updateService } from './service-estimate.js';
import { WeightedPicker } from './weighted-picker.js';

/**
 * The servers one application can send a request to, and the choice among them.
 *
 * The interval picker holds each server's LM (0 when it cannot serve). The referral factor
 * (see referrals.ts) changes with every pick for every server, so it is not stored in the
 * picker: a candidate drawn by LM is accepted with probability factor / MAX_FACTOR and
 * drawn again otherwise (rejection sampling). The result is exactly LM × factor, each draw
 * O(log n), about two draws a pick.
 *
 * With `choice: 'queue'` a pick goes instead to the server with the shortest expected delay
 * from its own figures (queue-choice.ts), whenever every candidate has figures younger than
 * T; otherwise it falls back to the interval choice. Either way the referral is counted for
 * both, so switching between them is smooth.
 *
 * Two lanes share the servers: one over all of them and one over those with an https
 * endpoint, so a request that arrived over TLS is never sent to plain http.
 *
 * @example
 * const pool = new ServerPool([{ C: 1000, https: false }, { C: 3000, https: false }], params, 0);
 * pool.pick(0, Math.random, {}); // 1 about three times in four
 */

export interface PoolMember {
  /** Static capacity C (1,000..10,000). */
  C: number;
  /** Has an https endpoint. */
  https: boolean;
  /** Enabled by the operator and healthy. Defaults to true. */
  available?: boolean;
  dynamic?: DynamicLoad;
  /** The server's own queue figures, for the queue choice. */
  queue?: ServerQueue;
}

/** `interval`: the document's weighted interval choice; `queue`: shortest expected delay. */
export type ChoicePolicy = 'interval' | 'queue';

export interface PoolParams {
  /** Obsolescence time T of the dynamic load value and of the queue figures, ms. */
  obsolescence: number;
  referral: ReferralParams;
  /** Default `interval`. */
  choice?: ChoicePolicy;
  /**
   * The longest a redirected browser is expected to take to reach its server, ms (default 0):
   * a referral made less than this before a server's figures may not be in them yet, so it
   * counts in part (SentSince.measured).
   */
  roundTrip?: number;
  /** Learn the round trip from the servers' figures (round-trip.ts); `roundTrip` until then. */
  measureRoundTrip?: boolean;
}

export interface PickOptions {
  /** Only servers with an https endpoint. */
  secureOnly?: boolean;
  /** A server to return to when it can be picked (affinity). */
  prefer?: number;
  /** A server that must not be picked (the one a request was redirected from). */
  exclude?: number;
}

export interface WeightBreakdown {
  LM: number;
  /** Recent referrals (decayed) in the lane asked about. */
  referrals: number;
  /** The referral factor applied to LM. */
  factor: number;
  /** Share of the next pick by the interval choice, 0..1. */
  share: number;
  /** Share of this door's recent picks (decayed like the referrals), 0..1. */
  recent: number;
  /** The queue choice's expected delay for a new request, ms; absent without fresh figures. */
  delay?: number;
}

/** Which rule places the next request: the queue choice needs fresh figures from every candidate. */
export type Decider = 'queue' | 'interval';

/** shortest(): some candidate has no fresh figures. */
const NO_FIGURES = -2;

/** Draws before giving up on the factor and taking the LM-only draw. */
const MAX_DRAWS = 32;

interface Member {
  C: number;
  https: boolean;
  available: boolean;
  dynamic: DynamicLoad | undefined;
  queue: ServerQueue | undefined;
  /** This door's referrals since the figures were measured. */
  sent: SentSince;
  /** The service time estimate (value 0: none yet). */
  service: ServiceEstimate;
  /** When the figures behind `service` were measured. */
  measuredAt: number;
}

interface Lane {
  picker: WeightedPicker;
  picks: DecayedCount;
  referrals: DecayedCount[];
}

export class ServerPool {
  private readonly members: Member[];
  private readonly lanes: [Lane, Lane];
  /** The last candidate draw() read the referral count of, and that count (see pick). */
  private drawn = -1;
  private drawnCount = 0;
  /** Learns the round trip from the figures (PoolParams.measureRoundTrip). */
  private readonly roundTrip: RoundTripEstimate | undefined;
  /** Independent doors sending to these servers; each scales its own referrals by it. */
  private doors = 1;
  /**
   * The members' service time estimates that are set (> 0), kept in ascending order as they
   * change, so that the medians a report needs cost a search, not a sort of the whole pool.
   */
  private readonly services: number[] = [];

  constructor(
    members: readonly PoolMember[],
    private readonly params: PoolParams,
    now: number,
  ) {
    this.roundTrip = params.measureRoundTrip ? new RoundTripEstimate(params.roundTrip ?? 0) : undefined;
    this.members = members.map((m) => ({
      C: m.C,
      https: m.https,
      available: m.available ?? true,
      dynamic: m.dynamic,
      queue: undefined,
      sent: new SentSince(),
      service: newServiceEstimate(),
      measuredAt: -Infinity,
    }));
    this.members.forEach((_, i) => {
      this.setQueue(i, members[i]!.queue);
    });
    const lane = (): Lane => ({
      picker: new WeightedPicker(new Float64Array(this.members.length)),
      picks: newCount(now),
      referrals: this.members.map(() => newCount(now)),
    });
    this.lanes = [lane(), lane()];
    this.refresh(now);
  }

  get size(): number {
    return this.members.length;
  }

  /** The figures behind server i's chance of the next pick, without changing anything. */
  breakdown(i: number, now: number, secureOnly = false): WeightBreakdown {
    const m = this.members[i]!;
    const lane = this.lanes[secureOnly ? 1 : 0];
    const LM = loadMetric(m.C, m.dynamic, this.params.obsolescence, now);
    const referrals = countAt(lane.referrals[i]!, now, this.params.referral.halfLife);
    const factor = this.factor(lane, i, now);
    let total = 0;
    for (let j = 0; j < this.members.length; j++) total += lane.picker.weight(j) * this.factor(lane, j, now);
    const share = total > 0 ? (lane.picker.weight(i) * factor) / total : 0;
    const picks = countAt(lane.picks, now, this.params.referral.halfLife);
    const recent = picks > 0 ? referrals / picks : 0;
    const delay = this.delayOf(i, now);
    return { LM, referrals, factor, share, recent, ...(delay !== undefined ? { delay } : {}) };
  }

  /** Which rule would place a request now (reads only). */
  decider(now: number, secureOnly = false): Decider {
    if (this.params.choice !== 'queue') return 'interval';
    return this.shortest(now, () => 0, { secureOnly }) === NO_FIGURES ? 'interval' : 'queue';
  }

  /** The server the queue choice would pick now (ties: the first), -1 for none, NO_FIGURES (-2) when it does not decide. */
  wouldPick(now: number, secureOnly = false): number {
    return this.shortest(now, () => 0.99, { secureOnly });
  }

  /**
   * Server i's latest figures when fresh (younger than the obsolescence time), else
   * undefined: what a gateway folds into its own counts. Read per pick, so nothing is made.
   */
  freshQueue(i: number, now: number): Readonly<ServerQueue> | undefined {
    const q = this.members[i]!.queue;
    return q && now - q.measuredAt <= this.params.obsolescence ? q : undefined;
  }

  /** The queue choice's service time estimate for server i (robust, a stall's slowness included), ms. */
  serviceTime(i: number): number {
    const m = this.members[i]!;
    return m.service.value > 0 ? serviceFor(m.service) : this.typicalService();
  }

  /** Server i's expected delay by the queue choice, ms, when its figures are fresh. */
  private delayOf(i: number, now: number): number | undefined {
    const m = this.members[i]!;
    const q = m.queue;
    if (!q || now - q.measuredAt > this.params.obsolescence) return undefined;
    const service = m.service.value > 0 ? serviceFor(m.service) : this.typicalService();
    return expectedDelay(q, m.sent.count, this.doors, service);
  }

  /**
   * Picks a server, counts the referral against it and returns its index, or -1 when none
   * can serve.
   */
  pick(now: number, random: Random, opts: PickOptions): number {
    const lane = this.lanes[opts.secureOnly ? 1 : 0];
    const picker = lane.picker;
    const { prefer, exclude } = opts;
    const halfLife = this.params.referral.halfLife;
    // Decayed counts cost a power each, the most expensive step of a pick: the pool's count is
    // read once here for every candidate and for the bump, and a drawn server's own count is
    // kept by draw() for its bump. The values are the ones bump() would compute.
    const picks = countAt(lane.picks, now, halfLife);
    this.drawn = -1;
    const preferred = prefer !== undefined && prefer !== exclude && picker.weight(prefer) > 0;
    let chosen = preferred ? prefer : NO_FIGURES;
    if (chosen === NO_FIGURES && this.params.choice === 'queue') chosen = this.shortest(now, random, opts);
    if (chosen !== NO_FIGURES) {
      // the affinity's server, or the one with the shortest expected delay
    } else if (exclude !== undefined && picker.weight(exclude) > 0) {
      const saved = picker.weight(exclude);
      picker.set(exclude, 0);
      chosen = this.draw(lane, now, random, picks);
      picker.set(exclude, saved);
    } else {
      chosen = this.draw(lane, now, random, picks);
    }
    if (chosen >= 0) {
      const referrals = lane.referrals[chosen]!;
      referrals.value = (this.drawn === chosen ? this.drawnCount : countAt(referrals, now, halfLife)) + 1;
      referrals.at = now;
      lane.picks.value = picks + 1;
      lane.picks.at = now;
      this.members[chosen]!.sent.add(now);
    }
    return chosen;
  }

  setAvailable(i: number, available: boolean, now: number): void {
    this.members[i]!.available = available;
    this.update(i, now);
  }

  isAvailable(i: number): boolean {
    return this.members[i]!.available;
  }

  setCapacity(i: number, C: number, now: number): void {
    this.members[i]!.C = C;
    this.update(i, now);
  }

  setDynamic(i: number, dynamic: DynamicLoad | undefined, now: number): void {
    this.members[i]!.dynamic = dynamic;
    this.update(i, now);
  }

  /** A server's latest queue figures (undefined: none), for the queue choice. */
  setQueue(i: number, queue: ServerQueue | undefined): void {
    const m = this.members[i]!;
    const prev = m.queue;
    m.queue = queue;
    if (!queue) return;
    if (queue.measuredAt <= m.measuredAt) return;
    if (this.roundTrip && prev && prev.measuredAt === m.measuredAt) {
      // Requests that arrived between the two sets of figures, to learn the round trip from.
      const arrived = queue.queueLength + queue.busy - (prev.queueLength + prev.busy) + (queue.requests ?? 0);
      this.roundTrip.add(arrived, prev.measuredAt, queue.measuredAt, (a, b) => m.sent.between(a, b));
    }
    m.measuredAt = queue.measuredAt;
    m.sent.measured(queue.measuredAt, this.fadeOver());
    const n = queue.requests ?? 1;
    const slots = Math.max(1, queue.slots);
    const free = queue.queueLength > 0 ? 0 : Math.max(0, slots - queue.busy) / slots;
    // The reference matters only to a server with nothing finished and room (it relaxes
    // towards it); worked out only then.
    const relaxing = !(n > 0 && queue.serviceTime > 0) && free > 0;
    const before = m.service.value;
    updateService(
      m.service,
      { mean: queue.serviceTime, n, free },
      queue.measuredAt,
      relaxing ? this.medianService(i) : 0,
    );
    if (m.service.value !== before) {
      if (before > 0) this.services.splice(lowerBound(this.services, before), 1);
      const v = m.service.value;
      if (v > 0) this.services.splice(lowerBound(this.services, v), 0, v);
    }
  }

  /**
   * How long before figures a referral may still be on its way: the configured round trip
   * (the longest expected), or twice the measured typical one, so that a referral made that
   * typical round trip before the figures counts a half.
   */
  private fadeOver(): number {
    return this.roundTrip?.learnt ? 2 * this.roundTrip.value : (this.params.roundTrip ?? 0);
  }

  /** The round trip this door has measured or assumes, ms (for status). */
  get clientRoundTrip(): number {
    return this.roundTrip ? this.roundTrip.value : (this.params.roundTrip ?? 0);
  }

  /** The median service time estimate over the servers that have one (1 when none has). */
  private typicalService(): number {
    return this.medianService(-1) || 1;
  }

  /**
   * The median of the members' service time estimates but member `skip`'s; 0 when none has
   * one. Read from the ordered estimates with one copy of the skipped value left out, which
   * is the same median as sorting the others (O(log n) rather than O(n log n)).
   */
  private medianService(skip: number): number {
    const v = this.services;
    const x = skip >= 0 ? this.members[skip]!.service.value : 0;
    // Without one copy of x: positions from `gap` on read one further.
    const gap = x > 0 ? lowerBound(v, x) : v.length;
    const n = x > 0 ? v.length - 1 : v.length;
    if (n <= 0) return 0;
    const at = (k: number) => v[k < gap ? k : k + 1]!;
    const h = n >> 1;
    return n % 2 === 1 ? at(h) : (at(h - 1) + at(h)) / 2;
  }

  /** How many independent doors share these servers (the manager knows); at least 1. */
  setDoors(n: number): void {
    this.doors = Number.isFinite(n) && n >= 1 ? n : 1;
  }

  /**
   * Recomputes every LM. Dynamic values age continuously, so a component that feeds them
   * calls this every tick (O(n)); with static capacities only it is never needed.
   */
  refresh(now: number): void {
    for (let i = 0; i < this.members.length; i++) this.update(i, now);
  }

  /**
   * The candidate with the shortest expected delay, ties at random; NO_FIGURES when a
   * candidate has no figures younger than T (then the interval choice decides), -1 when
   * there is no candidate.
   */
  private shortest(now: number, random: Random, opts: PickOptions): number {
    let best = -1;
    let bestDelay = Infinity;
    let ties = 0;
    // A server that has not finished a request yet is taken to be as fast as the others.
    const typical = this.typicalService();
    for (let i = 0; i < this.members.length; i++) {
      const m = this.members[i]!;
      if (!m.available || i === opts.exclude || (opts.secureOnly && !m.https)) continue;
      const q = m.queue;
      if (!q || now - q.measuredAt > this.params.obsolescence) return NO_FIGURES;
      const delay = expectedDelay(
        q,
        m.sent.count,
        this.doors,
        m.service.value > 0 ? serviceFor(m.service) : typical,
      );
      if (delay < bestDelay) {
        bestDelay = delay;
        best = i;
        ties = 1;
      } else if (delay === bestDelay && random() * ++ties < 1) best = i;
    }
    return best;
  }

  /** `picks`: the lane's decayed pick count at `now`. */
  private draw(lane: Lane, now: number, random: Random, picks: number): number {
    const total = lane.picker.total();
    let candidate = -1;
    for (let d = 0; d < MAX_DRAWS; d++) {
      candidate = lane.picker.pick(random());
      if (candidate < 0) return -1;
      const actual = countAt(lane.referrals[candidate]!, now, this.params.referral.halfLife);
      this.drawn = candidate;
      this.drawnCount = actual;
      const factor = this.factorOf(candidate, lane.picker.weight(candidate), total, picks, actual);
      if (random() * MAX_FACTOR < factor) return candidate;
    }
    return candidate;
  }

  private factor(lane: Lane, i: number, now: number): number {
    const halfLife = this.params.referral.halfLife;
    return this.factorOf(
      i,
      lane.picker.weight(i),
      lane.picker.total(),
      countAt(lane.picks, now, halfLife),
      countAt(lane.referrals[i]!, now, halfLife),
    );
  }

  /** Server i's referral factor from its LM, the lane's total LM and the decayed counts. */
  private factorOf(i: number, LM: number, total: number, picks: number, actual: number): number {
    if (!(total > 0)) return 1;
    const expected = (picks * LM) / total;
    return referralFactor(actual, expected, this.members[i]!.C, this.params.referral);
  }

  private update(i: number, now: number): void {
    const m = this.members[i]!;
    const LM = m.available ? loadMetric(m.C, m.dynamic, this.params.obsolescence, now) : 0;
    this.lanes[0].picker.set(i, LM);
    this.lanes[1].picker.set(i, m.https ? LM : 0);
  }
}

/** The first index of `v` (ascending) whose value is not below `x`. */
function lowerBound(v: readonly number[], x: number): number {
  let lo = 0;
  let hi = v.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
