import type { QueueFigures } from '../core/load-value.js';
import type { Clock } from '../core/random.js';

/**
 * The server's request queue, kept explicitly (document 002 section III, FIG. 4 and 5): at
 * most `slots` requests inside the server, the rest wait in arrival order for at most
 * `timeout` ms. Because the interface owns the queue, its length and each request's wait
 * are exact, not estimated. `figures()` gives the counters for the last report interval.
 *
 * @example
 * const q = new RequestQueue({ slots: 4, maxWaiting: 1000, timeout: 5000 }, clock);
 * const t = await q.enter();        // resolves when a slot is free ({ ok: false } on time-out or overflow)
 * // ... serve ...
 * q.leave(t, 200);                  // frees the slot, counts the service time and status
 */

export interface QueueOptions {
  /** Requests served at once. */
  slots: number;
  /** Requests that may wait; one more is refused at once. */
  maxWaiting: number;
  /** Longest wait, ms; past it the request is refused. */
  timeout: number;
}

export type Admission =
  | { ok: true; ticket: Ticket }
  | { ok: false; reason: 'full' | 'timeout' | 'closed'; waited: number };

export interface Ticket {
  /** When the request arrived, clock ms. */
  arrived: number;
  /** When it got its slot. */
  started: number;
  /** Requests waiting ahead of it when it arrived (FIG. 4's count). */
  ahead: number;
  /** Set by leave(), so a double leave frees one slot only. */
  done: boolean;
}

interface Waiter {
  arrived: number;
  ahead: number;
  resolve(a: Admission): void;
  timer: NodeJS.Timeout | undefined;
}

export class RequestQueue {
  private busy = 0;
  private readonly waiting: Waiter[] = [];
  private head = 0;
  private closed = false;
  // Interval counters, reset by figures().
  private waitSum = 0;
  private started = 0;
  private serviceSum = 0;
  private finished = 0;
  private errors = 0;
  private refused = 0;

  constructor(
    private options: QueueOptions,
    private readonly clock: Clock,
  ) {}

  get length(): number {
    return this.waiting.length - this.head;
  }

  get inService(): number {
    return this.busy;
  }

  /** Changes the limits; more slots let waiters in at once. */
  configure(options: QueueOptions): void {
    this.options = options;
    this.drain();
  }

  /**
   * Admits at once when a slot is free and nobody waits, else gives undefined (then enter()).
   * Most requests of a server that keeps up take this path, with no promise to settle.
   */
  tryEnter(): Ticket | undefined {
    if (this.closed || this.busy >= this.options.slots || this.head < this.waiting.length) return undefined;
    const now = this.clock();
    this.busy++;
    this.started++;
    return { arrived: now, started: now, ahead: 0, done: false };
  }

  enter(): Promise<Admission> {
    if (this.closed) return Promise.resolve({ ok: false, reason: 'closed', waited: 0 });
    const ticket = this.tryEnter();
    if (ticket) return Promise.resolve({ ok: true, ticket });
    const now = this.clock();
    if (this.length >= this.options.maxWaiting) {
      this.refused++;
      return Promise.resolve({ ok: false, reason: 'full', waited: 0 });
    }
    return new Promise((resolve) => {
      const w: Waiter = { arrived: now, ahead: this.length, resolve, timer: undefined };
      if (this.options.timeout > 0) {
        w.timer = setTimeout(() => this.expire(w), this.options.timeout);
      }
      this.waiting.push(w);
    });
  }

  /** The request has been answered (or abandoned): frees its slot and counts it. */
  leave(t: Ticket, status: number, now: number = this.clock()): void {
    if (t.done) return;
    t.done = true;
    this.busy--;
    this.finished++;
    this.serviceSum += now - t.started;
    if (status >= 500) this.errors++;
    this.drain();
  }

  /**
   * The counters since the last call, then starts a new interval. Queue delay is the mean wait
   * of the requests that got a slot in the interval, or the wait so far of the oldest one
   * still waiting when that is longer: a stuck server starts no requests, and its delay must
   * not read as zero.
   */
  figures(): QueueFigures & { refused: number } {
    const head = this.head < this.waiting.length ? this.waiting[this.head] : undefined;
    const oldest = head ? this.clock() - head.arrived : 0;
    const f = {
      queueLength: this.length,
      busy: this.busy,
      slots: this.options.slots,
      queueDelay: Math.max(this.started > 0 ? this.waitSum / this.started : 0, oldest),
      serviceTime: this.finished > 0 ? this.serviceSum / this.finished : 0,
      requests: this.finished,
      errors: this.errors,
      refused: this.refused,
    };
    this.waitSum = 0;
    this.started = 0;
    this.serviceSum = 0;
    this.finished = 0;
    this.errors = 0;
    this.refused = 0;
    return f;
  }

  /** Refuses everyone waiting; new requests are refused too. */
  close(): void {
    this.closed = true;
    while (this.length > 0) {
      const w = this.take()!;
      w.resolve({ ok: false, reason: 'closed', waited: this.clock() - w.arrived });
    }
  }

  private drain(): void {
    while (this.busy < this.options.slots && this.length > 0) {
      const w = this.take()!;
      const now = this.clock();
      this.busy++;
      this.started++;
      this.waitSum += now - w.arrived;
      w.resolve({ ok: true, ticket: { arrived: w.arrived, started: now, ahead: w.ahead, done: false } });
    }
  }

  private take(): Waiter | undefined {
    if (this.head >= this.waiting.length) return undefined;
    const w = this.waiting[this.head]!;
    this.waiting[this.head++] = undefined as unknown as Waiter;
    // Compact now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
    clearTimeout(w.timer);
    return w;
  }

  private expire(w: Waiter): void {
    const i = this.waiting.indexOf(w, this.head);
    if (i < 0) return;
    this.waiting.splice(i, 1);
    this.refused++;
    w.resolve({ ok: false, reason: 'timeout', waited: this.clock() - w.arrived });
  }
}
