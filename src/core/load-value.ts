/**
 * The dynamic load value L of document 002 ("The Dynamic Load Value"): the manager turns a
 * server's figures for the last interval into 0..10,000, where 10,000 means it can serve at
 * once and 0 that it is swamped. The site file chooses the basis:
 *
 * - `queueDelay`: mean time requests waited in the queue (the document's preferred one);
 * - `totalTime`: mean queue wait plus service time;
 * - `queueLength`: requests waiting per slot;
 * - `errorRate`: share of answers that were server errors.
 *
 * Each maps its figure x through L = 10,000 · ref / (ref + x): x = 0 gives 10,000, x = ref
 * gives 5,000, and L falls smoothly toward 0 as x grows, never below (see docs/decisions.md).
 *
 * @example
 * loadValue({ ...figures, queueDelay: 100 }, { basis: 'queueDelay', reference: 100 }); // 5000
 */

/** A server's own counters over one report interval, from its interface. */
export interface QueueFigures {
  /** Requests waiting for a slot at the end of the interval. */
  queueLength: number;
  /** Slots in use at the end of the interval. */
  busy: number;
  /** Slots in all (the interface's maxConcurrent). */
  slots: number;
  /** Mean queue wait of the requests that started service in the interval, ms. */
  queueDelay: number;
  /** Mean service time of the requests that finished in the interval, ms. */
  serviceTime: number;
  /** Requests finished in the interval. */
  requests: number;
  /** Of those, answered with a 5xx status. */
  errors: number;
}

export type LoadBasis = 'queueDelay' | 'totalTime' | 'queueLength' | 'errorRate';

export interface LoadValueParams {
  basis: LoadBasis;
  /** The figure that gives L = 5,000: ms for the delays, waiting per slot, error share. */
  reference: number;
}

/** Reference figures: what counts as "half loaded" for each basis. */
export const DEFAULT_LOAD_REFERENCE: Record<LoadBasis, number> = {
  queueDelay: 100,
  totalTime: 200,
  queueLength: 1,
  errorRate: 0.05,
};

/** The figure a basis looks at; never negative, never NaN. */
export function loadFigure(f: QueueFigures, basis: LoadBasis): number {
  let x: number;
  switch (basis) {
    case 'queueDelay':
      x = f.queueDelay;
      break;
    case 'totalTime':
      x = f.queueDelay + f.serviceTime;
      break;
    case 'queueLength':
      x = f.queueLength / Math.max(1, f.slots);
      break;
    case 'errorRate':
      x = f.requests > 0 ? f.errors / f.requests : 0;
      break;
  }
  return Number.isFinite(x) && x > 0 ? x : 0;
}

/** L in 0..10,000 (whole numbers). */
export function loadValue(f: QueueFigures, p: LoadValueParams): number {
  const x = loadFigure(f, p.basis);
  const ref = p.reference > 0 ? p.reference : DEFAULT_LOAD_REFERENCE[p.basis];
  return Math.round((10_000 * ref) / (ref + x));
}
