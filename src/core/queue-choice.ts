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

/**
 * A door's referrals to one server since that server's figures were measured. Each
 * referral's time is kept until figures measured after it arrive, so a late report still
 * counts exactly the referrals it cannot have seen.
 */
export class SentSince {
  private times: number[] = [];
  private head = 0;
  /** Index of the first referral made after the latest figures' measuring time. */
  private full = 0;
  /** What the referrals before `full` (made within a round trip before the figures) count for. */
  private partial = 0;
  private after = -Infinity;

  /** Referrals the latest figures cannot include, each weighted by how likely that is. */
  get count(): number {
    return this.partial + this.times.length - this.full;
  }

  add(now: number): void {
    if (this.times.length - this.head >= MAX_REMEMBERED) {
      this.head++;
      if (this.full < this.head) this.full = this.head;
    }
    this.times.push(now);
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.full -= this.head;
      this.head = 0;
    }
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
    while (this.head < this.times.length && this.times[this.head]! <= arrived) this.head++;
    let partial = 0;
    let i = this.head;
    for (; i < this.times.length && this.times[i]! <= measuredAt; i++)
      partial += (this.times[i]! - arrived) / roundTrip;
    this.full = i;
    this.partial = partial;
  }
}
