import type { Random } from '../core/random.js';
import type { Batch, BatchBody, Outbox } from './outbox.js';

/**
 * Sends a component's outbox to the manager in order, with flow control (D43):
 *
 * - at most `window` batches are in flight (sent, not acknowledged), and none while the
 *   link's socket holds more than `maxBuffered` bytes unsent, so a sender that was away
 *   replays at the pace the manager stores, not its whole outbox at once, and the store's
 *   queue stays bounded by the windows of its senders;
 * - when the manager asks (an `ack` with `resend`: a batch failed to store, or came before
 *   the one it follows), everything unacknowledged is sent again from the oldest, after a
 *   pause that grows while the store keeps failing (so a locked database is not hammered);
 * - on a welcome, the manager's stored number decides: acknowledged up to it, or, for a
 *   fresh process or a manager that remembers less or more than this sender numbered,
 *   what is pending is renumbered to follow it (Outbox.rebase).
 *
 * @example
 * const d = new Delivery({ outbox, send: (b) => link.send({ v: 1, type: 'batch', ...b }), buffered: () => link.buffered });
 * d.welcome(stored); d.add(body); d.ack(seq, resend); d.down();
 */

export interface DeliveryOptions<R, E, S> {
  outbox: Outbox<R, E, S>;
  /** Sends one batch on the link; false when it is down. */
  send(b: Batch<R, E, S>): boolean;
  /** Bytes the link's socket holds unsent. */
  buffered(): number;
  /** Batches in flight at most. Default 16. */
  window?: number;
  /** Bytes unsent on the socket above which no batch is sent. Default 1 MiB. */
  maxBuffered?: number;
  /** Whether the outbox's numbers were restored from disk (they follow the previous process's). */
  restored?: boolean;
  random?: Random;
}

export class Delivery<R, E, S> {
  /** The highest number sent on the current connection. */
  private sentThrough = 0;
  /** The highest number ever sent: a batch at or below it is sent again. */
  private highest = 0;
  private live = false;
  private welcomed = false;
  private rewind: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Batches sent again because the manager asked, since start. */
  resent = 0;
  private readonly window: number;
  private readonly maxBuffered: number;

  constructor(private readonly o: DeliveryOptions<R, E, S>) {
    this.window = o.window ?? 16;
    this.maxBuffered = o.maxBuffered ?? 1024 * 1024;
  }

  /** The link is up and the manager has stored up to `stored`: send what it lacks. */
  welcome(stored: number): void {
    const box = this.o.outbox;
    const known = this.welcomed || this.o.restored === true;
    if (!known || stored < box.acked || stored > box.lastSeq) box.rebase(stored);
    else box.ack(stored);
    this.welcomed = true;
    this.live = true;
    this.failures = 0;
    clearTimeout(this.rewind);
    this.rewind = undefined;
    this.sentThrough = box.acked;
    this.highest = Math.min(this.highest, box.lastSeq);
    this.pump();
  }

  /** The link went down: nothing is in flight any more; the welcome replays. */
  down(): void {
    this.live = false;
    clearTimeout(this.rewind);
    this.rewind = undefined;
  }

  /** Queues a body (split if it is too big for one batch) and sends what the window allows. */
  add(body: BatchBody<R, E, S>): Batch<R, E, S>[] {
    const added = this.o.outbox.add(body);
    this.pump();
    return added;
  }

  /** The manager's acknowledgement; with `resend`, it could not store what followed `seq`. */
  ack(seq: number, resend = false): void {
    const before = this.o.outbox.acked;
    this.o.outbox.ack(seq);
    if (this.o.outbox.acked > before) this.failures = 0;
    if (resend && this.live && this.rewind === undefined) {
      const pause =
        Math.min(5000, 200 * 2 ** this.failures++) * (0.5 + 0.5 * (this.o.random ?? Math.random)());
      this.rewind = setTimeout(() => {
        this.rewind = undefined;
        this.sentThrough = this.o.outbox.acked;
        this.pump();
      }, pause);
      this.rewind.unref();
    }
    this.pump();
  }

  /** Sends the next batches while the window and the socket allow. */
  pump(): void {
    if (!this.live || this.rewind !== undefined) return;
    let inFlight = 0;
    for (const b of this.o.outbox.unacked()) {
      if (b.seq <= this.sentThrough) {
        inFlight++;
        continue;
      }
      if (inFlight >= this.window || this.o.buffered() > this.maxBuffered) return;
      if (!this.o.send(b)) return;
      if (b.seq <= this.highest) this.resent++;
      else this.highest = b.seq;
      this.sentThrough = b.seq;
      inFlight++;
    }
  }
}
