/**
 * Groups request records for the manager the way document 002 describes: a batch goes when
 * it holds `records` records, or `bytes` bytes, or its oldest record is `age` ms old,
 * whichever comes first (100, 8 KiB, 30 s by default). The clock is an argument, so the
 * rule is tested without waiting.
 *
 * @example
 * const b = new Batcher<Rec>(DEFAULT_BATCH_LIMITS);
 * const full = b.add(rec, 120, now);  // an array when a limit was reached, else undefined
 * const late = b.due(now);            // an array when the oldest record is too old
 */

export interface BatchLimits {
  records: number;
  bytes: number;
  age: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = { records: 100, bytes: 8 * 1024, age: 30_000 };

export class Batcher<T> {
  private items: T[] = [];
  private bytes = 0;
  private oldest = 0;

  constructor(private readonly limits: BatchLimits) {}

  get length(): number {
    return this.items.length;
  }

  add(item: T, bytes: number, now: number): T[] | undefined {
    if (this.items.length === 0) this.oldest = now;
    this.items.push(item);
    this.bytes += bytes;
    if (this.items.length >= this.limits.records || this.bytes >= this.limits.bytes) return this.flush();
    return undefined;
  }

  due(now: number): T[] | undefined {
    if (this.items.length > 0 && now - this.oldest >= this.limits.age) return this.flush();
    return undefined;
  }

  /** The items waiting, oldest first (the spool's compaction writes them). */
  peek(): readonly T[] {
    return this.items;
  }

  flush(): T[] {
    const out = this.items;
    this.items = [];
    this.bytes = 0;
    return out;
  }
}
