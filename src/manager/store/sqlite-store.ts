import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { HostFacts, RequestRecord, Sample, SwitchyardEvent } from '../../protocol/messages.js';

/**
 * The manager's store on SQLite (WAL): the managed objects (components and the last
 * sequence number stored from each, hosts), the logs (request records, metric samples,
 * events, host facts logged only when they change: document 002 Tables 3-6), and the
 * operator's overrides. Synchronous; the manager runs it in a worker thread (store-worker.ts)
 * so heavy ingest never delays the fast figures.
 *
 * A batch is stored in one transaction together with its sender's new sequence number, so
 * a manager killed mid-batch has stored all of it or none, and a replayed batch (a number
 * not above the stored one) is acknowledged without being stored again. A batch is stored
 * only right after the one before it (or after the sender's `prev`, when the sender dropped
 * the ones between and says so, which is stored as a gap event): a batch whose predecessor
 * failed to store is refused as out of order, so the acknowledgement never passes a failure
 * (D43). Transactions take the write lock first (BEGIN IMMEDIATE), so a database busy with
 * another writer is waited for up to the busy time-out, not failed at once.
 *
 * @example
 * const s = new SqliteStore('./switchyard-data/switchyard.db');
 * s.ingest('agent', 'host-1', 1, { records, events: [], samples: [] }, Date.now()); // { stored: 1, duplicate: false }
 */

export interface BatchInput {
  /** The sender dropped the batches between `prev` and this one (`lost` items). */
  prev?: number;
  lost?: number;
  records: RequestRecord[];
  events: SwitchyardEvent[];
  samples: Sample[];
}

export interface IngestResult {
  /** The sender's highest number stored now. */
  stored: number;
  /** Already stored before: acknowledged, not stored again. */
  duplicate: boolean;
  /** Not stored: the batch before it is not stored yet (it failed, or comes again later). */
  outOfOrder?: true;
}

/** How long a write waits for another writer's lock before it fails, ms. */
export const BUSY_TIMEOUT = 5000;

export interface StoredOverrides {
  applications: Record<string, { enabled?: boolean; sorryPage?: string; _v?: OverrideVersions }>;
  servers: Record<string, { enabled?: boolean; capacity?: number; _v?: OverrideVersions }>;
  /** When everything was last reset, and by whom (D46). */
  reset?: OverrideOrigin;
}

/** Where an override came from: the manager's wall-clock ms when the operator made it, and who. */
export interface OverrideOrigin {
  at: number;
  by: string;
}

/** Each field's origin; the newest change of a field wins (D46). */
export type OverrideVersions = Record<string, OverrideOrigin>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS components (
  role TEXT NOT NULL, id TEXT NOT NULL, stored_seq INTEGER NOT NULL DEFAULT 0, last_seen INTEGER,
  PRIMARY KEY (role, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hosts (
  id TEXT PRIMARY KEY, facts TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS host_facts_log (
  host_id TEXT NOT NULL, facts TEXT NOT NULL, logged_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
  id INTEGER PRIMARY KEY, component TEXT NOT NULL, server TEXT NOT NULL, start INTEGER NOT NULL,
  method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL, queue_wait REAL NOT NULL,
  service_time REAL NOT NULL, client TEXT, query TEXT, protocol TEXT, bytes INTEGER, content_type TEXT,
  user_agent TEXT, referrer TEXT, cookies INTEGER, redirected_to TEXT, aborted INTEGER,
  logged_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS records_server_start ON records (server, start);
CREATE INDEX IF NOT EXISTS records_logged ON records (logged_at);
CREATE TABLE IF NOT EXISTS samples (
  component TEXT NOT NULL, metric TEXT NOT NULL, start INTEGER NOT NULL, stop INTEGER NOT NULL,
  value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS samples_metric ON samples (component, metric, stop);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY, source TEXT NOT NULL, code TEXT NOT NULL, level TEXT NOT NULL,
  text TEXT NOT NULL, at INTEGER NOT NULL, logged_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS overrides (
  kind TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, name)) WITHOUT ROWID;
`;

export class SqliteStore {
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly ingestTx;
  /**
   * Each sender's stored number as committed: the manager is the store's only writer, so a
   * batch that cannot follow it is refused without touching the database (after one failed,
   * the batches behind it would otherwise each wait out the busy time-out).
   */
  private readonly seqs = new Map<string, number>();

  constructor(file: string, busyTimeout = BUSY_TIMEOUT) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    // Every statement is made once and kept for the store's life (exec makes none): on Node 24
    // a better-sqlite3 12 statement left to the garbage collector can be finalised while the
    // thread is being torn down, which aborts the process (nodejs/node#65446).
    this.db.exec('PRAGMA journal_mode = WAL');
    this.db.exec('PRAGMA synchronous = NORMAL');
    this.db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.round(busyTimeout))}`);
    this.db.exec(SCHEMA);
    const db = this.db;
    this.stmts = {
      seq: db.prepare('SELECT stored_seq AS seq FROM components WHERE role = ? AND id = ?'),
      allSeqs: db.prepare('SELECT role, id, stored_seq AS seq FROM components'),
      setSeq: db.prepare(
        `INSERT INTO components (role, id, stored_seq, last_seen) VALUES (?, ?, ?, ?)
         ON CONFLICT (role, id) DO UPDATE SET stored_seq = excluded.stored_seq, last_seen = excluded.last_seen`,
      ),
      record: db.prepare(
        `INSERT INTO records (component, server, start, method, path, status, queue_wait, service_time, client,
           query, protocol, bytes, content_type, user_agent, referrer, cookies, redirected_to, aborted, logged_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      sample: db.prepare(
        'INSERT INTO samples (component, metric, start, stop, value) VALUES (?, ?, ?, ?, ?)',
      ),
      event: db.prepare(
        'INSERT INTO events (source, code, level, text, at, logged_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      host: db.prepare('SELECT facts FROM hosts WHERE id = ?'),
      setHost: db.prepare(
        `INSERT INTO hosts (id, facts, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET facts = excluded.facts, updated_at = excluded.updated_at`,
      ),
      logHost: db.prepare('INSERT INTO host_facts_log (host_id, facts, logged_at) VALUES (?, ?, ?)'),
      overrides: db.prepare('SELECT kind, name, value FROM overrides'),
      setOverride: db.prepare(
        `INSERT INTO overrides (kind, name, value) VALUES (?, ?, ?)
         ON CONFLICT (kind, name) DO UPDATE SET value = excluded.value`,
      ),
      resetOverrides: db.prepare('DELETE FROM overrides'),
      count: {
        records: db.prepare('SELECT count(*) AS n FROM records'),
        events: db.prepare('SELECT count(*) AS n FROM events'),
        samples: db.prepare('SELECT count(*) AS n FROM samples'),
        host_facts_log: db.prepare('SELECT count(*) AS n FROM host_facts_log'),
      },
      probeWrite: db.prepare(
        `INSERT INTO meta (key, value) VALUES ('written_at', ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      ),
      prune: [
        db.prepare('DELETE FROM records WHERE logged_at < ?'),
        db.prepare('DELETE FROM samples WHERE stop < ?'),
        db.prepare('DELETE FROM events WHERE logged_at < ?'),
      ],
    };
    this.ingestTx = db.transaction(
      (role: string, id: string, seq: number, b: BatchInput, now: number): IngestResult => {
        const have = (this.stmts.seq.get(role, id) as { seq: number } | undefined)?.seq ?? 0;
        if (seq <= have) return { stored: have, duplicate: true };
        if (!follows(have, seq, b.prev)) return { stored: have, duplicate: false, outOfOrder: true };
        const component = `${role}:${id}`;
        if (seq - 1 > have) {
          // The sender dropped what was between (its outbox overflowed): said, not waited for.
          const some = b.prev !== undefined && have > b.prev ? 'at most ' : '';
          this.stmts.event.run(
            component,
            'records.lost',
            'error',
            `${role} ${id} dropped ${some}${b.lost ?? 0} records, events and samples (batches ${have + 1} to ${seq - 1}) before they were stored: its outbox overflowed while the manager was away or slow`,
            now,
            now,
          );
        }
        for (const r of b.records) {
          this.stmts.record.run(
            component,
            r.server,
            Math.round(r.start),
            r.method,
            r.path,
            r.status,
            r.queueWait,
            r.serviceTime,
            r.client ?? null,
            r.query ?? null,
            r.protocol ?? null,
            r.bytes ?? null,
            r.contentType ?? null,
            r.userAgent ?? null,
            r.referrer ?? null,
            r.cookies === undefined ? null : Number(r.cookies),
            r.redirectedTo ?? null,
            r.aborted === undefined ? null : Number(r.aborted),
            now,
          );
        }
        for (const s of b.samples) {
          this.stmts.sample.run(
            s.component,
            s.metric,
            Math.round(now - s.startAge),
            Math.round(now - s.stopAge),
            s.value,
          );
        }
        for (const e of b.events) {
          this.stmts.event.run(e.source, e.code, e.level, e.text, Math.round(now - e.age), now);
        }
        this.stmts.setSeq.run(role, id, seq, now);
        return { stored: seq, duplicate: false };
      },
    );
  }

  /**
   * Stores a batch once, right after the one it follows; `now` is the manager's wall clock
   * (ages become times with it). Throws when the database cannot be written.
   */
  ingest(role: string, id: string, seq: number, b: BatchInput, now: number): IngestResult {
    const key = `${role}/${id}`;
    let have = this.seqs.get(key);
    if (have === undefined) {
      have = (this.stmts.seq.get(role, id) as { seq: number } | undefined)?.seq ?? 0;
      this.seqs.set(key, have);
    }
    if (seq <= have) return { stored: have, duplicate: true };
    if (!follows(have, seq, b.prev)) return { stored: have, duplicate: false, outOfOrder: true };
    const r = this.ingestTx.immediate(role, id, seq, b, now);
    this.seqs.set(key, r.stored);
    return r;
  }

  /**
   * Whether the database takes a write now: a real one, so a read-only file, a full disk or a
   * lock held too long shows at start and in /healthz, not first in a lost batch.
   */
  probeWrite(now: number): void {
    this.stmts.probeWrite.run(String(now));
  }

  /** Every component's last stored sequence number, "role/id" → seq. */
  storedSeqs(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.stmts.allSeqs.all() as Array<{ role: string; id: string; seq: number }>)
      out.set(`${r.role}/${r.id}`, r.seq);
    return out;
  }

  /** Keeps a host's facts; logs them (Table 4) only when they changed. True when they did. */
  hostFacts(id: string, facts: HostFacts, now: number): boolean {
    const text = JSON.stringify(facts);
    const old = this.stmts.host.get(id) as { facts: string } | undefined;
    if (old?.facts === text) return false;
    this.db.transaction(() => {
      this.stmts.setHost.run(id, text, now);
      this.stmts.logHost.run(id, text, now);
    })();
    return true;
  }

  overrides(): StoredOverrides {
    const out: StoredOverrides = { applications: {}, servers: {} };
    for (const r of this.stmts.overrides.all() as Array<{ kind: string; name: string; value: string }>) {
      const v = JSON.parse(r.value);
      if (r.kind === 'application') out.applications[r.name] = v;
      else if (r.kind === 'server') out.servers[r.name] = v;
      else if (r.kind === 'site' && r.name === 'reset') out.reset = v;
    }
    return out;
  }

  setOverride(kind: 'application' | 'server' | 'site', name: string, value: Record<string, unknown>): void {
    this.stmts.setOverride.run(kind, name, JSON.stringify(value));
  }

  resetOverrides(): void {
    this.stmts.resetOverrides.run();
  }

  /** Stores one of the manager's own events (Table 6); `now` is wall ms. */
  event(source: string, code: string, level: 'info' | 'warn' | 'error', text: string, now: number): void {
    this.stmts.event.run(source, code, level, text, now, now);
  }

  /** Deletes records, samples and events logged before `before` (wall ms). Returns rows deleted. */
  prune(before: number): number {
    let n = 0;
    for (const st of this.stmts.prune) n += st.run(before).changes;
    return n;
  }

  count(table: 'records' | 'events' | 'samples' | 'host_facts_log'): number {
    return (this.stmts.count[table].get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}

/** Whether a batch numbered `seq` may be stored after `have`: it follows it, or the sender dropped what is between. */
function follows(have: number, seq: number, prev: number | undefined): boolean {
  return seq === have + 1 || (prev !== undefined && prev <= have && have < seq);
}
