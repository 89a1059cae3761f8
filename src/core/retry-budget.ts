import type { Clock } from './random.js';

/**
 * How many retries a gateway may make: a share of its recent requests, with a small floor so
 * a quiet site still retries (Envoy's retry budget, Finagle's RetryBudget). Retries beyond it
 * are not made: when a server fails, retrying every request would double the load on the rest
 * just as they are short of one.
 *
 * A token bucket: each request adds `share` of a token, time adds `floorPerSecond` tokens a
 * second, a retry takes one; it holds at most `cap`.
 *
 * @example
 * const budget = new RetryBudget(0.2, 3, clock);
 * budget.request(); // on every request
 * if (budget.tryRetry()) retry();
 */
export class RetryBudget {
  private tokens: number;
  private at: number;

  constructor(
    private readonly share: number,
    private readonly floorPerSecond: number,
    private readonly clock: Clock,
    private readonly cap = 100,
  ) {
    this.tokens = Math.min(cap, floorPerSecond);
    this.at = clock();
  }

  private refill(): void {
    const now = this.clock();
    this.tokens = Math.min(this.cap, this.tokens + ((now - this.at) / 1000) * this.floorPerSecond);
    this.at = now;
  }

  /** Counts one request (a first try). */
  request(): void {
    this.tokens = Math.min(this.cap, this.tokens + this.share);
  }

  /** Takes a retry's token if there is one. */
  tryRetry(): boolean {
    this.refill();
    // Tenths added up are not exact in binary: ten requests at 0.2 must make two tokens.
    if (this.tokens < 1 - 1e-9) return false;
    this.tokens = Math.max(0, this.tokens - 1);
    return true;
  }
}
