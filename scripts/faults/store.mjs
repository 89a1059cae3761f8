// Reading the manager's store as it is on disk, with a read-only connection of our own (WAL
// lets it read while the manager writes, and while another process holds the write lock).

import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { sleep } from './site.mjs';

/**
 * What the store holds of the counted load: how many times each id `i=N` was stored, the
 * records in all, the queries that look like ours but do not parse (a harness fault), and the
 * agent's stored sequence number.
 */
export function readStore(dbFile) {
  if (!existsSync(dbFile)) return { total: 0, times: new Map(), unparsed: [], storedSeq: 0 };
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    const total = db.prepare('SELECT count(*) FROM records').pluck().get();
    const times = new Map();
    const unparsed = [];
    for (const q of db.prepare("SELECT query FROM records WHERE query LIKE 'i=%'").pluck().all()) {
      const m = /^i=(\d+)$/.exec(q);
      if (!m) unparsed.push(q);
      else times.set(Number(m[1]), (times.get(Number(m[1])) ?? 0) + 1);
    }
    // The last batch number of the agent the manager says it stored (what it acknowledges).
    const storedSeq =
      db.prepare("SELECT stored_seq FROM components WHERE role = 'agent' AND id = 'host-1'").pluck().get() ??
      0;
    return { total, times, unparsed, storedSeq };
  } finally {
    db.close();
  }
}

/**
 * Waits until the store stops changing: the number of records the same for `quietMs` (less
 * when every answered id is in already, and only late duplicates could still come). Batches
 * go at least every second (the site file's batch age), so a longer quiet means nothing more
 * is on its way. Gives the last reading, and whether the deadline came first.
 */
export async function untilSettled(dbFile, { answered, quietMs, deadlineMs }) {
  const end = Date.now() + deadlineMs;
  let last = readStore(dbFile);
  let since = Date.now();
  for (;;) {
    await sleep(250);
    const now = readStore(dbFile);
    if (now.total !== last.total) since = Date.now();
    last = now;
    const complete = answered.every((i) => now.times.has(i));
    if (Date.now() - since >= (complete ? Math.min(2000, quietMs) : quietMs))
      return { ...now, timedOut: false };
    if (Date.now() > end) return { ...now, timedOut: true };
  }
}
