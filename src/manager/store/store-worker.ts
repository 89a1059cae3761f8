import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from './sqlite-store.js';

/**
 * The store's thread: SQLite calls are synchronous, so they run here, off the manager's
 * event loop, and heavy ingest never delays the fast figures. Requests are handled one at a
 * time in arrival order, so a sender's batches are committed in sequence order.
 */

export type StoreOp =
  | { op: 'ingest'; args: Parameters<SqliteStore['ingest']> }
  | { op: 'storedSeqs'; args: [] }
  | { op: 'hostFacts'; args: Parameters<SqliteStore['hostFacts']> }
  | { op: 'overrides'; args: [] }
  | { op: 'setOverride'; args: Parameters<SqliteStore['setOverride']> }
  | { op: 'resetOverrides'; args: [] }
  | { op: 'event'; args: Parameters<SqliteStore['event']> }
  | { op: 'prune'; args: Parameters<SqliteStore['prune']> }
  | { op: 'probeWrite'; args: Parameters<SqliteStore['probeWrite']> }
  | { op: 'count'; args: Parameters<SqliteStore['count']> };

export type StoreRequest = StoreOp & { id: number };
export type StoreReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

const port = parentPort;
if (port) {
  let store: SqliteStore;
  try {
    const { file, busyTimeout } = workerData as { file: string; busyTimeout?: number };
    store = new SqliteStore(file, busyTimeout);
    port.postMessage({ id: 0, ok: true, value: 'open' } satisfies StoreReply);
  } catch (e) {
    port.postMessage({ id: 0, ok: false, error: (e as Error).message } satisfies StoreReply);
    process.exit(1);
  }
  port.on('message', (m: StoreRequest | { op: 'close' }) => {
    if (m.op === 'close') {
      store.close();
      port.close();
      return;
    }
    try {
      const fn = store[m.op] as (...a: unknown[]) => unknown;
      const value = fn.apply(store, m.args);
      // Maps do not survive structured clone as such in every consumer; send entries.
      port.postMessage({
        id: m.id,
        ok: true,
        value: value instanceof Map ? [...value] : value,
      } satisfies StoreReply);
    } catch (e) {
      port.postMessage({ id: m.id, ok: false, error: (e as Error).message } satisfies StoreReply);
    }
  });
}
