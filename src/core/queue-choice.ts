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
  private after = -Infinity;

  /** Referrals made after `after` (the figures' measuring time). */
  get count(): number {
    return this.times.length - this.head;
  }

  add(now: number): void {
    if (this.count >= MAX_REMEMBERED) this.head++;
    this.times.push(now);
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * Forgets the referrals made at or before `measuredAt`: the caller passes the figures'
   * measuring time less the client round trip, so only referrals that can have arrived go.
   */
  measured(measuredAt: number): void {
    if (measuredAt <= this.after) return;
    this.after = measuredAt;
    while (this.head < this.times.length && this.times[this.head]! <= measuredAt) this.head++;
  }
}
