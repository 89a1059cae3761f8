/**
 * What a component has to deliver to the manager and may not lose: batches of request
 * records, events and samples, each with a sequence number. A batch stays here until the
 * manager acknowledges it (after committing it), so a manager that dies mid-batch gets it
 * again after the restart; the manager stores a number it has seen once only.
 *
 * The outbox is bounded by items (records + events + samples). When the manager is away
 * long enough to fill it, the oldest batches go first, and what was dropped is counted so
 * the operator hears of it (an overflow event) instead of finding a silent gap.
 *
 * @example
 * const box = new Outbox(100_000);
 * const b = box.add({ records: [r1, r2], events: [], samples: [] }); // b.seq === 1
 * box.ack(1); // gone
 */

export interface BatchBody<R, E, S> {
  records: R[];
  events: E[];
  samples: S[];
}

export interface Batch<R, E, S> extends BatchBody<R, E, S> {
  seq: number;
}

export class Outbox<R = unknown, E = unknown, S = unknown> {
  private readonly pending: Batch<R, E, S>[] = [];
  private items = 0;
  private nextSeq: number;
  /** Items dropped because the outbox was full, since start. */
  dropped = 0;

  constructor(
    private readonly maxItems: number,
    /** The last sequence number used before (e.g. restored from disk); numbering goes on from it. */
    lastSeq = 0,
  ) {
    this.nextSeq = lastSeq + 1;
  }

  get size(): number {
    return this.items;
  }

  get batches(): number {
    return this.pending.length;
  }

  /** Queues a batch and gives it the next sequence number. Empty bodies are not queued. */
  add(body: BatchBody<R, E, S>): Batch<R, E, S> | undefined {
    const n = body.records.length + body.events.length + body.samples.length;
    if (n === 0) return undefined;
    const batch = { seq: this.nextSeq++, ...body };
    this.pending.push(batch);
    this.items += n;
    while (this.items > this.maxItems && this.pending.length > 1) {
      const old = this.pending.shift()!;
      const k = old.records.length + old.events.length + old.samples.length;
      this.items -= k;
      this.dropped += k;
    }
    return batch;
  }

  /**
   * Renumbers what is pending to follow `stored`, the manager's last stored number for this
   * sender. A process that starts afresh numbers from 1, but the manager remembers the
   * previous process's numbers: without this its first batches would be taken for replays
   * and dropped. Called on the first welcome only, when nothing was sent yet.
   */
  rebase(stored: number): void {
    let seq = stored;
    for (const b of this.pending) b.seq = ++seq;
    this.nextSeq = seq + 1;
  }

  /** The manager has committed everything up to `seq`. */
  ack(seq: number): void {
    while (this.pending.length > 0 && this.pending[0]!.seq <= seq) {
      const b = this.pending.shift()!;
      this.items -= b.records.length + b.events.length + b.samples.length;
    }
  }

  /** Batches still to send, oldest first. */
  unacked(): readonly Batch<R, E, S>[] {
    return this.pending;
  }
}
