/**
 * The simulator's fake clock: a binary min-heap of timed callbacks. `now` moves only when
 * the next event runs, so thousands of simulated seconds pass in seconds of real time.
 * Events at the same time run in the order they were scheduled, which keeps a run with a
 * given seed exactly repeatable.
 *
 * @example
 * const q = new EventQueue();
 * q.at(5, () => console.log(q.now)); // 5
 * q.run(10);
 */

interface Entry {
  t: number;
  seq: number;
  fn: () => void;
}

export class EventQueue {
  now = 0;
  private readonly heap: Entry[] = [];
  private seq = 0;

  /** Runs `fn` at time `t` (never before now). */
  at(t: number, fn: () => void): void {
    const e: Entry = { t: t < this.now ? this.now : t, seq: this.seq++, fn };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  /** Runs `fn` `dt` ms from now. */
  after(dt: number, fn: () => void): void {
    this.at(this.now + dt, fn);
  }

  /** Runs events in time order until none is left at or before `until`. */
  run(until: number): void {
    const h = this.heap;
    while (h.length > 0 && h[0]!.t <= until) {
      const top = h[0]!;
      const last = h.pop()!;
      if (h.length > 0) {
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= h.length) break;
          const r = l + 1;
          const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
          if (!before(h[c]!, last)) break;
          h[i] = h[c]!;
          i = c;
        }
        h[i] = last;
      }
      this.now = top.t;
      top.fn();
    }
    if (this.now < until) this.now = until;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}
