import { Worker } from 'node:worker_threads';
import type { HostFacts } from '../../protocol/messages.js';
import type { BatchInput, IngestResult, StoredOverrides } from './sqlite-store.js';
import type { StoreOp, StoreReply } from './store-worker.js';

/**
 * The manager's handle on its store: the same calls as SqliteStore, answered by the store's
 * worker thread (store-worker.ts). Every call is a promise; calls are answered in order.
 * PostgreSQL can follow behind the same interface.
 *
 * It also keeps the store's health for /healthz and /metrics: a write that fails makes it
 * `failing` until one succeeds; a thread that dies (a native crash, an out-of-memory) makes
 * it `down`, its calls are refused, and it is started again after a growing pause; a real
 * write then makes it `ok` or `failing` (`restarts` counts the starts).
 *
 * @example
 * const store = await StoreClient.open('./switchyard-data/switchyard.db');
 * await store.ingest('agent', 'host-1', 1, { records, events: [], samples: [] }, Date.now());
 */

export interface StoreHealth {
  state: 'ok' | 'failing' | 'down';
  /** What went wrong last, in the database's words. */
  error?: string;
  /** Calls asked and not yet answered. */
  queued: number;
  /** How long the oldest unanswered write has waited, ms (a lock held by another process shows here first). */
  waitingMs: number;
  /** Times the thread was started again since the manager started. */
  restarts: number;
}

export interface StoreClientOptions {
  /** How long a write waits for another writer's lock, ms (SqliteStore's BUSY_TIMEOUT). */
  busyTimeout?: number;
  /** Told when the health changes. */
  onHealth?(h: StoreHealth): void;
}

/** Calls that write: their failure is the store's failure. */
const WRITES = new Set<StoreOp['op']>([
  'ingest',
  'hostFacts',
  'setOverride',
  'resetOverrides',
  'event',
  'prune',
  'probeWrite',
]);

export class StoreClient {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { write: boolean; ingest: boolean; asked: number; resolve(v: unknown): void; reject(e: Error): void }
  >();
  private closed: Error | undefined;
  private down: Error | undefined;
  private state: StoreHealth['state'] = 'ok';
  private error: string | undefined;
  private restarts = 0;
  private retry: NodeJS.Timeout | undefined;

  private constructor(
    private worker: Worker,
    private readonly file: string,
    private readonly o: StoreClientOptions,
  ) {
    this.watch(worker);
  }

  static async open(file: string, o: StoreClientOptions = {}): Promise<StoreClient> {
    return new StoreClient(await spawn(file, o.busyTimeout), file, o);
  }

  health(): StoreHealth {
    let oldest = Number.POSITIVE_INFINITY;
    for (const p of this.pending.values()) if (p.write && p.asked < oldest) oldest = p.asked;
    return {
      state: this.state,
      ...(this.error !== undefined ? { error: this.error } : {}),
      queued: this.pending.size,
      waitingMs: Number.isFinite(oldest) ? Math.round(performance.now() - oldest) : 0,
      restarts: this.restarts,
    };
  }

  ingest(role: string, id: string, seq: number, b: BatchInput, now: number) {
    return this.call<IngestResult>({ op: 'ingest', args: [role, id, seq, b, now] });
  }

  async storedSeqs(): Promise<Map<string, number>> {
    return new Map(await this.call<Array<[string, number]>>({ op: 'storedSeqs', args: [] }));
  }

  hostFacts(id: string, facts: HostFacts, now: number) {
    return this.call<boolean>({ op: 'hostFacts', args: [id, facts, now] });
  }

  overrides() {
    return this.call<StoredOverrides>({ op: 'overrides', args: [] });
  }

  setOverride(kind: 'application' | 'server' | 'site', name: string, value: Record<string, unknown>) {
    return this.call<void>({ op: 'setOverride', args: [kind, name, value] });
  }

  resetOverrides() {
    return this.call<void>({ op: 'resetOverrides', args: [] });
  }

  event(source: string, code: string, level: 'info' | 'warn' | 'error', text: string, now: number) {
    return this.call<void>({ op: 'event', args: [source, code, level, text, now] });
  }

  prune(before: number) {
    return this.call<number>({ op: 'prune', args: [before] });
  }

  /** A real write, to learn whether the database takes one (at start, and while failing). */
  probeWrite(now: number) {
    return this.call<void>({ op: 'probeWrite', args: [now] });
  }

  count(table: 'records' | 'events' | 'samples' | 'host_facts_log') {
    return this.call<number>({ op: 'count', args: [table] });
  }

  /** Ends the thread at once, as a crash would (tests of the restart). */
  crashForTest(): Promise<number> {
    return this.worker.terminate();
  }

  /** Commits what is queued, closes the database and ends the thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = new Error('the store thread stopped');
    clearTimeout(this.retry);
    if (this.down) return;
    const exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
    this.worker.postMessage({ op: 'close' });
    await exited;
  }

  private call<T>(m: StoreOp): Promise<T> {
    const refused = this.closed ?? this.down;
    if (refused) return Promise.reject(refused);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, {
        write: WRITES.has(m.op),
        ingest: m.op === 'ingest',
        asked: performance.now(),
        resolve: resolve as (v: unknown) => void,
        reject,
      });
      this.worker.postMessage({ ...m, id });
    });
  }

  private watch(worker: Worker): void {
    worker.on('message', (r: StoreReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) {
        // A batch refused as a replay or out of order wrote nothing: it says nothing of health.
        const wrote = !(p.ingest && isRefusal(r.value));
        if (p.write && wrote) this.setState('ok', undefined);
        p.resolve(r.value);
      } else {
        if (p.write) this.setState('failing', r.error);
        p.reject(new Error(r.error));
      }
    });
    worker.on('error', (e) => this.lost(worker, e));
    worker.on('exit', (code) => this.lost(worker, new Error(`the store thread stopped (exit ${code})`)));
  }

  /** The thread ended: refuse what was asked of it; start another unless the manager is closing. */
  private lost(worker: Worker, e: Error): void {
    if (worker !== this.worker) return;
    const error = this.closed ?? e;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    if (this.closed || this.down) return;
    this.down = new Error(`the store thread stopped and is being started again: ${e.message}`);
    this.setState('down', e.message);
    const again = (attempt: number) => {
      this.retry = setTimeout(
        () => {
          spawn(this.file, this.o.busyTimeout).then(
            (w) => {
              if (this.closed) return void w.terminate();
              this.worker = w;
              this.restarts++;
              this.down = undefined;
              this.watch(w);
              // Not called ok on trust: a real write, as at start, makes it ok or failing (a
              // thread started again on a database still locked or read-only is not healthy).
              // Until that write answers it stays down, its calls taken.
              this.error = 'the store thread was started again; a write is being tried';
              this.probeWrite(Date.now()).catch(() => {});
            },
            (err: Error) => {
              this.error = err.message;
              again(attempt + 1);
            },
          );
        },
        Math.min(5000, 100 * 2 ** attempt),
      );
      this.retry.unref();
    };
    again(0);
  }

  private setState(state: StoreHealth['state'], error: string | undefined): void {
    const changed = state !== this.state;
    this.state = state;
    if (error !== undefined || state === 'ok') this.error = error;
    if (changed) this.o.onHealth?.(this.health());
  }
}

const isRefusal = (v: unknown) =>
  typeof v === 'object' &&
  v !== null &&
  ((v as IngestResult).duplicate || (v as IngestResult).outOfOrder === true);

/** Starts a store thread on `file` and waits until it has opened the database. */
function spawn(file: string, busyTimeout: number | undefined): Promise<Worker> {
  const workerData = { file, busyTimeout };
  const worker = import.meta.url.endsWith('.ts')
    ? // From the sources under tsx (the tests): Node 20 gives a worker thread no loader
      // hooks, so the thread registers tsx itself before it loads the TypeScript worker.
      new Worker(
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => {
          m.register();
          return import(${JSON.stringify(new URL('./store-worker.ts', import.meta.url).href)});
        });`,
        { eval: true, workerData },
      )
    : new Worker(new URL('./store-worker.js', import.meta.url), { workerData });
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    worker.once('error', onError);
    worker.once('message', (r: StoreReply) => {
      worker.off('error', onError);
      if (r.ok) resolve(worker);
      else {
        void worker.terminate();
        reject(new Error(`cannot open the store at ${file}: ${r.error}`));
      }
    });
  });
}
