import type { Counter } from 'prom-client';

/**
 * Per-request counts kept as plain numbers and folded into a prom-client counter only when
 * /metrics is read. prom-client hashes and checks labels on every inc(), even on a cached
 * child: about 0.3 µs a call, a tenth of the interceptor's whole budget per request
 * (BENCHMARKS.md). The output of /metrics is the same.
 *
 * @example
 * const tally = new Tally<'server'>();
 * const picks = new Counter({ name: 'picks_total', help: '...', labelNames: ['server'], collect() { tally.flushInto(this); } });
 * tally.cell('web-a', () => ({ server: 'web-a' })).n++;
 */
export interface TallyCell<K extends string> {
  labels: Record<K, string>;
  n: number;
}

export class Tally<K extends string> {
  private readonly cells = new Map<string, TallyCell<K>>();

  /** The cell for `key`, made on first use with the labels `make` gives. */
  cell(key: string, make: () => Record<K, string>): TallyCell<K> {
    let c = this.cells.get(key);
    if (!c) {
      c = { labels: make(), n: 0 };
      this.cells.set(key, c);
    }
    return c;
  }

  flushInto(counter: Counter<K>): void {
    for (const c of this.cells.values()) {
      if (c.n > 0) {
        counter.inc(c.labels, c.n);
        c.n = 0;
      }
    }
  }
}
