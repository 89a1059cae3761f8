import { Worker } from 'node:worker_threads';
import type { HostFacts } from '../../protocol/messages.js';
import type { BatchInput, StoredOverrides } from './sqlite-store.js';
import type { StoreOp, StoreReply } from './store-worker.js';

/**
 * The manager's handle on its store: the same calls as SqliteStore, answered by the store's
 * worker thread (store-worker.ts). Every call is a promise; calls are answered in order.
 * PostgreSQL can follow behind the same interface.
 *
 * @example
 * const store = await StoreClient.open('./switchyard-data/switchyard.db');
 * await store.ingest('agent', 'host-1', 1, { records, events: [], samples: [] }, Date.now());
 */
export class StoreClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private failed: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (r: StoreReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.value);
      else p.reject(new Error(r.error));
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`the store thread stopped (exit ${code})`)));
  }

  static open(file: string): Promise<StoreClient> {
    const worker = import.meta.url.endsWith('.ts')
      ? // From the sources under tsx (the tests): Node 20 gives a worker thread no loader
        // hooks, so the thread registers tsx itself before it loads the TypeScript worker.
        new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => {
            m.register();
            return import(${JSON.stringify(new URL('./store-worker.ts', import.meta.url).href)});
          });`,
          { eval: true, workerData: { file } },
        )
      : new Worker(new URL('./store-worker.js', import.meta.url), { workerData: { file } });
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      worker.once('error', onError);
      worker.once('message', (r: StoreReply) => {
        worker.off('error', onError);
        if (r.ok) resolve(new StoreClient(worker));
        else {
          void worker.terminate();
          reject(new Error(`cannot open the store at ${file}: ${r.error}`));
        }
      });
    });
  }

  ingest(role: string, id: string, seq: number, b: BatchInput, now: number) {
    return this.call<{ stored: number; duplicate: boolean }>({ op: 'ingest', args: [role, id, seq, b, now] });
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

  setOverride(kind: 'application' | 'server', name: string, value: Record<string, unknown>) {
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

  count(table: 'records' | 'events' | 'samples' | 'host_facts_log') {
    return this.call<number>({ op: 'count', args: [table] });
  }

  /** Commits what is queued, closes the database and ends the thread. */
  async close(): Promise<void> {
    if (this.failed) return;
    const exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
    this.worker.postMessage({ op: 'close' });
    await exited;
  }

  private call<T>(m: StoreOp): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...m, id });
    });
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const p of this.pending.values()) p.reject(this.failed);
    this.pending.clear();
  }
}
