import { BATCH_LIMITS } from '../protocol/messages.js';

/**
 * What a component has to deliver to the manager and may not lose: batches of request
 * records, events and samples, each with a sequence number. A batch stays here until the
 * manager acknowledges it (after committing it), so a manager that dies mid-batch gets it
 * again after the restart; the manager stores a number it has seen once only, and only
 * after the one before it (D43).
 *
 * The outbox is bounded by items (records + events + samples) and, when given, by bytes
 * (each batch as encoded: the agent's spool keeps what is held on disk within its bound).
 * When the manager is away long enough to fill it, the oldest batches go first, and what was
 * dropped is counted and said: the first batch kept carries `prev` (the last number acknowledged) and `lost` (the
 * items dropped since), so the manager records the gap instead of waiting for batches that
 * will never come. A body bigger than a batch may be (BATCH_LIMITS) is split, never refused.
 *
 * @example
 * const box = new Outbox(100_000);
 * const [b] = box.add({ records: [r1, r2], events: [], samples: [] }); // b.seq === 1
 * box.ack(1); // gone
 */

export interface BatchBody<R, E, S> {
  records: R[];
  events: E[];
  samples: S[];
}

export interface Batch<R, E, S> extends BatchBody<R, E, S> {
  seq: number;
  /** Set on the first batch kept after a drop: the batches after `prev` and before it are gone. */
  prev?: number;
  /** Items in those dropped batches. */
  lost?: number;
}

export interface OutboxLimits {
  /** Items in one batch at most. */
  items: number;
  /** Encoded bytes of one batch at most. */
  bytes: number;
}

const itemsOf = (b: BatchBody<unknown, unknown, unknown>) =>
  b.records.length + b.events.length + b.samples.length;
const jsonBytes = (x: unknown) => Buffer.byteLength(JSON.stringify(x));

/** What an outbox holds at most: items, or items and encoded bytes. */
export type OutboxBound = number | { items: number; bytes?: number };

export class Outbox<R = unknown, E = unknown, S = unknown> {
  private readonly pending: Batch<R, E, S>[] = [];
  private items = 0;
  /** Encoded bytes of what is pending, and of each batch (set when it is queued). */
  private held = 0;
  private readonly sizes = new WeakMap<Batch<R, E, S>, number>();
  private readonly maxItems: number;
  private readonly maxBytes: number;
  private nextSeq: number;
  /** The highest number the manager acknowledged (or, after a rebase, said it stored). */
  private settled: number;
  /** Items dropped since `settled`, told to the manager with the next batch it gets. */
  private lostSinceSettled = 0;
  /** Items dropped because the outbox was full, since start. */
  dropped = 0;

  constructor(
    bound: OutboxBound,
    /** The last sequence number used before (e.g. restored from disk); numbering goes on from it. */
    lastSeq = 0,
    private readonly limits: OutboxLimits = BATCH_LIMITS,
    /** Encoded size of a body or an item, bytes (to split bodies that would make a batch too big). */
    private readonly sizeOf: (x: unknown) => number = jsonBytes,
  ) {
    this.maxItems = typeof bound === 'number' ? bound : bound.items;
    this.maxBytes =
      typeof bound === 'number' ? Number.POSITIVE_INFINITY : (bound.bytes ?? Number.POSITIVE_INFINITY);
    this.nextSeq = lastSeq + 1;
    this.settled = lastSeq;
  }

  /** Items waiting. */
  get size(): number {
    return this.items;
  }

  /** Encoded bytes waiting. */
  get bytes(): number {
    return this.held;
  }

  get batches(): number {
    return this.pending.length;
  }

  /** The last number given to a batch. */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** The highest number known stored. */
  get acked(): number {
    return this.settled;
  }

  /**
   * Queues a body as one batch, or as several when it would be bigger than a batch may be;
   * gives each the next sequence number. Empty bodies are not queued.
   */
  add(body: BatchBody<R, E, S>): Batch<R, E, S>[] {
    if (itemsOf(body) === 0) return [];
    const out: Batch<R, E, S>[] = [];
    for (const [part, bytes] of this.split(body)) {
      const batch: Batch<R, E, S> = { seq: this.nextSeq++, ...part };
      this.keep(batch, bytes);
      out.push(batch);
    }
    this.trim();
    return out;
  }

  /** Puts back a batch restored from disk, numbered as it was (the agent's spool). */
  restore(batch: Batch<R, E, S>): void {
    if (batch.seq < this.nextSeq) return;
    const body = { records: batch.records, events: batch.events, samples: batch.samples };
    this.keep({ seq: batch.seq, ...body }, this.sizeOf(body));
    this.nextSeq = batch.seq + 1;
    this.trim();
  }

  /** Numbers go on after `lastSeq` at least (a spool remembers numbers given to batches since gone). */
  numberFrom(lastSeq: number): void {
    this.nextSeq = Math.max(this.nextSeq, lastSeq + 1);
  }

  /**
   * Renumbers what is pending to follow `stored`, the manager's last stored number for this
   * sender. A process that starts afresh numbers from 1, but the manager remembers the
   * previous process's numbers: without this its first batches would be taken for replays
   * and dropped. A manager whose store was replaced remembers less than was acknowledged:
   * the same fixes that. Called on a welcome only, when nothing of this link was sent yet.
   */
  rebase(stored: number): void {
    let seq = stored;
    for (const b of this.pending) b.seq = ++seq;
    this.nextSeq = seq + 1;
    this.settled = stored;
  }

  /** The manager has committed everything up to `seq`. */
  ack(seq: number): void {
    if (seq > this.settled) {
      this.settled = seq;
      this.lostSinceSettled = 0;
    }
    while (this.pending.length > 0 && this.pending[0]!.seq <= seq) this.forget();
  }

  /**
   * Batches still to send, oldest first. The first says what was dropped before it, when
   * something was: the manager must not wait for those numbers.
   */
  unacked(): readonly Batch<R, E, S>[] {
    const head = this.pending[0];
    if (head && head.seq - 1 > this.settled) {
      head.prev = this.settled;
      head.lost = this.lostSinceSettled;
    } else if (head) {
      delete head.prev;
      delete head.lost;
    }
    return this.pending;
  }

  private keep(batch: Batch<R, E, S>, bytes: number): void {
    this.pending.push(batch);
    this.items += itemsOf(batch);
    this.held += bytes;
    this.sizes.set(batch, bytes);
  }

  /** Takes the oldest batch out; gives its items. */
  private forget(): number {
    const b = this.pending.shift()!;
    const k = itemsOf(b);
    this.items -= k;
    this.held -= this.sizes.get(b) ?? 0;
    return k;
  }

  /** Drops the oldest batches while over a bound; one batch is kept whole even if bigger. */
  private trim(): void {
    while ((this.items > this.maxItems || this.held > this.maxBytes) && this.pending.length > 1) {
      const k = this.forget();
      this.dropped += k;
      this.lostSinceSettled += k;
    }
  }

  /** Cuts a body into parts within the limits, keeping the order of each kind; each with its encoded bytes. */
  private *split(body: BatchBody<R, E, S>): Generator<[BatchBody<R, E, S>, number]> {
    // Nearly always one batch: measured whole once, item by item only when it is too big.
    const whole = itemsOf(body) <= this.limits.items ? this.sizeOf(body) : Number.POSITIVE_INFINITY;
    if (whole <= this.limits.bytes - 256) {
      yield [body, whole];
      return;
    }
    let part: BatchBody<R, E, S> = { records: [], events: [], samples: [] };
    let n = 0;
    let bytes = 0;
    for (const kind of ['records', 'events', 'samples'] as const) {
      for (const item of body[kind] as unknown[]) {
        const b = this.sizeOf(item) + 1;
        if (n > 0 && (n + 1 > this.limits.items || bytes + b > this.limits.bytes - 256)) {
          yield [part, bytes + 40];
          part = { records: [], events: [], samples: [] };
          n = 0;
          bytes = 0;
        }
        (part[kind] as unknown[]).push(item);
        n++;
        bytes += b;
      }
    }
    if (n > 0) yield [part, bytes + 40];
  }
}
