/**
 * The gateway's admission queue (issue 30, document 004 claim 19): when every server of an
 * application that could take a request is at its limit of requests in flight, the request
 * waits here, first come first served, and goes to the first server that frees a place, the
 * moment it does. One queue in front of several servers is the M/M/c queue, which waits less
 * than c queues of M/M/1 do; holding requests here rather than in each server's own queue
 * keeps every request free to go wherever a place opens first.
 *
 * A waiter leaves when it is sent, when it has waited `timeout` (503 with Retry-After), or
 * when its client goes (then it is simply skipped).
 *
 * @example
 * const q = new AdmissionQueue(1000);
 * q.push({ at: now, go: (i) => send(i), done: false });
 * q.oldest(); // the waiter to send when a server frees a place
 */

export interface Waiter {
  /** When it started to wait (the gateway's clock). */
  at: number;
  /** Sends the request to the server of this name. */
  go(server: string): void;
  /** Sent, timed out or its client gone: skipped. */
  done: boolean;
}

export class AdmissionQueue {
  private items: Waiter[] = [];
  private head = 0;
  private live = 0;
  /** Waiters sent, and the time they waited, since start (for /metrics and status). */
  sent = 0;
  waitedMs = 0;
  /** The last waiter's wait, ms. */
  lastWaitMs = 0;
  /** Waiters that timed out, and that were refused because the queue was full. */
  timedOut = 0;
  refused = 0;

  constructor(readonly capacity: number) {}

  /** Waiters now. */
  get length(): number {
    return this.live;
  }

  /** Adds a waiter; false when the queue is full (the caller answers 503). */
  push(w: Waiter): boolean {
    if (this.live >= this.capacity) {
      this.refused++;
      return false;
    }
    this.items.push(w);
    this.live++;
    return true;
  }

  /** The oldest waiter still waiting, without taking it. */
  oldest(): Waiter | undefined {
    while (this.head < this.items.length && this.items[this.head]!.done) this.head++;
    this.compact();
    return this.items[this.head];
  }

  /** Takes the oldest waiter, which has been sent now. */
  take(now: number): Waiter | undefined {
    const w = this.oldest();
    if (!w) return undefined;
    this.head++;
    this.finish(w);
    this.sent++;
    this.lastWaitMs = now - w.at;
    this.waitedMs += this.lastWaitMs;
    return w;
  }

  /** A waiter leaves without being sent (timed out, or its client went). */
  drop(w: Waiter, timedOut: boolean): void {
    if (w.done) return;
    this.finish(w);
    if (timedOut) this.timedOut++;
  }

  /** How long the oldest waiter has waited, ms (0 when none waits). */
  oldestWaitMs(now: number): number {
    const w = this.oldest();
    return w ? now - w.at : 0;
  }

  private finish(w: Waiter): void {
    w.done = true;
    this.live--;
  }

  /** Drops the taken and skipped waiters from the front now and then, so the array stays small. */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
