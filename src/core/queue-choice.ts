/**
 * The queue-aware pick: shortest expected delay (SED) from each server's own figures.
 *
 * A redirecting front door never sees a request finish, so it cannot count outstanding
 * requests as a proxy does. What it has instead is better: every report interval each
 * server's interface says exactly how many requests wait, how many slots are busy out of
 * how many, and how long requests took to serve. From those, a new request sent to server i
 * would wait about
 *
 *   delay_i = (queued_i + busy_i + doors × sent_i + 1) / slots_i × serviceTime_i
 *
 * where sent_i counts this door's own referrals to i that the figures cannot include yet
 * (a redirected browser reaches its server about one client round trip after the referral,
 * so a referral counts until figures measured that long after it arrive), scaled by the
 * number of doors, since each door sees only its own
 * share of them (C3's concurrency compensation). The service time makes a slowed server
 * count as slow before its queue builds; the slots make a strong server take more. See
 * docs/decisions.md D28 for why this is the default and what the simulator measured.
 *
 * @example
 * expectedDelay({ queueLength: 3, busy: 4, slots: 4, serviceTime: 20, measuredAt: 0 }, 1, 1, 20); // 45
 */

/** One server's figures as a door holds them. */
export interface ServerQueue {
  queueLength: number;
  busy: number;
  slots: number;
  /** Recent mean service time, ms; 0 when nothing finished in the interval. */
  serviceTime: number;
  /** Requests finished in the interval behind `serviceTime`. */
  requests?: number;
  /** Clock reading (ms) when the figures were measured. */
  measuredAt: number;
}

export function expectedDelay(q: ServerQueue, sent: number, doors: number, serviceTime: number): number {
  return ((q.queueLength + q.busy + doors * sent + 1) / Math.max(1, q.slots)) * serviceTime;
}

/** Most referrals remembered per server between two sets of figures. */
const MAX_REMEMBERED = 65_536;
/** How long referrals are remembered after they count no more, for the round trip estimate, ms. */
export const HISTORY = 1000;

/**
 * A door's referrals to one server that its latest figures cannot include yet. Each
 * referral's time is kept until figures measured long enough after it arrive, so a late
 * report still counts exactly the referrals it cannot have seen; and for HISTORY ms more, so
 * the door can tell when its referrals showed up at the server (round-trip.ts).
 */
export class SentSince {
  private times: number[] = [];
  /** First referral kept for the history. */
  private keep = 0;
  /** First referral that may not have arrived by the latest figures. */
  private head = 0;
  /** Index of the first referral made after the latest figures' measuring time. */
  private full = 0;
  /** What the referrals from `head` to `full` (made within a round trip before the figures) count for. */
  private partial = 0;
  private after = -Infinity;

  /** Referrals the latest figures cannot include, each weighted by how likely that is. */
  get count(): number {
    return this.partial + this.times.length - this.full;
  }

  add(now: number): void {
    if (this.times.length - this.keep >= MAX_REMEMBERED) {
      this.keep++;
      if (this.head < this.keep) this.head = this.keep;
      if (this.full < this.head) this.full = this.head;
    }
    this.times.push(now);
    if (this.keep > 1024 && this.keep * 2 > this.times.length) {
      this.times = this.times.slice(this.keep);
      this.head -= this.keep;
      this.full -= this.keep;
      this.keep = 0;
    }
  }

  /** Referrals made in (from, to], among those remembered. */
  between(from: number, to: number): number {
    return this.firstAfter(to) - this.firstAfter(from);
  }

  /** Index of the first remembered referral made after `t`. */
  private firstAfter(t: number): number {
    let lo = this.keep;
    let hi = this.times.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.times[mid]! <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * New figures measured at `measuredAt`. A referral made `roundTrip` or more before them has
   * reached its server and is in them; one made after them is not; one made in between is in
   * them if its browser was quick, so it counts for the share of a round trip it still had
   * to go (a browser's round trip taken as anything up to `roundTrip`).
   */
  measured(measuredAt: number, roundTrip = 0): void {
    if (measuredAt <= this.after) return;
    this.after = measuredAt;
    const arrived = measuredAt - roundTrip;
    const forgotten = arrived - HISTORY;
    while (this.keep < this.times.length && this.times[this.keep]! <= forgotten) this.keep++;
    // From the history, not from where the last figures left it: the round trip may change.
    this.head = this.firstAfter(arrived);
    let partial = 0;
    let i = this.head;
    for (; i < this.times.length && this.times[i]! <= measuredAt; i++)
      partial += (this.times[i]! - arrived) / roundTrip;
    this.full = i;
    this.partial = partial;
  }
}
