/**
 * How many requests a gateway had at one server at a given moment in the last second or two
 * (issue 30: folding the server's own figures into the gateway's choice). A server's figures
 * count every request it holds, from this gateway, from other gateways and doors, and from
 * clients that bypass them all; what this gateway had there when the figures were measured,
 * taken away, leaves the others' share:
 *
 *   others = max(0, queued + busy − mine at measuredAt)
 *
 * Kept as samples of the count taken just before it changes, at most one a millisecond, so
 * the cost per request is a comparison and the error at most the changes of one millisecond.
 *
 * @example
 * const h = new InFlightHistory();
 * h.change(10, 0); // 0 in flight until t=10, then one more
 * h.change(30, 1); // 1 until t=30
 * h.at(20, 2);     // 1
 */

/** Samples kept: at one a millisecond at most, at least two seconds. */
const SIZE = 2048;
/** Fewest ms between two samples. */
const RESOLUTION = 1;

export class InFlightHistory {
  private readonly times = new Float64Array(SIZE);
  private readonly values = new Int32Array(SIZE);
  /** Samples taken since start; the newest is at (count - 1) % SIZE. */
  private count = 0;
  private last = Number.NEGATIVE_INFINITY;

  /** The count is about to change at `now`; `value` is what it has been until now. */
  change(now: number, value: number): void {
    if (now - this.last < RESOLUTION) return;
    this.last = now;
    const i = this.count % SIZE;
    this.times[i] = now;
    this.values[i] = value;
    this.count++;
  }

  /**
   * The count at time `t`, `current` being the count now; undefined when `t` is older than
   * the samples kept (figures that old are not folded in).
   */
  at(t: number, current: number): number | undefined {
    const n = Math.min(this.count, SIZE);
    if (n === 0 || t >= this.last) return current;
    const first = this.count - n;
    if (t < this.times[first % SIZE]! && this.count > SIZE) return undefined;
    // The first sample taken at or after t holds the count that stood just before it.
    let lo = first;
    let hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.times[mid % SIZE]! < t) lo = mid + 1;
      else hi = mid;
    }
    return this.values[lo % SIZE]!;
  }
}
