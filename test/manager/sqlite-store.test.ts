import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../../src/manager/store/sqlite-store.js';
import { keepAlive, tempDir } from '../helpers.js';
import { hostFacts as facts, batch as storeBatch } from './store-fixtures.js';

const batch = (n: number) => storeBatch(n, { userAgent: 'ua', cookies: false });

test('a real SQLite file: batches are stored once, in order, and numbers survive a reopen', () => {
  const file = join(tempDir(), 'data', 'switchyard.db');
  let s = keepAlive(new SqliteStore(file));
  assert.deepEqual(s.ingest('agent', 'host-1', 1, batch(3), 1000), { stored: 1, duplicate: false });
  assert.deepEqual(s.ingest('agent', 'host-1', 2, batch(2), 1000), { stored: 2, duplicate: false });
  // A replay after a reconnect: acknowledged, not stored again.
  assert.deepEqual(s.ingest('agent', 'host-1', 2, batch(2), 1000), { stored: 2, duplicate: true });
  assert.deepEqual(s.ingest('agent', 'host-1', 1, batch(3), 1000), { stored: 2, duplicate: true });
  assert.equal(s.count('records'), 5);
  assert.equal(s.count('events'), 2);
  assert.equal(s.count('samples'), 2);
  s.close();
  s = keepAlive(new SqliteStore(file));
  assert.equal(s.storedSeqs().get('agent/host-1'), 2);
  assert.equal(s.count('records'), 5);
  s.close();
});

test('a batch that fails half way stores nothing, and its number is not taken', () => {
  const s = keepAlive(new SqliteStore(':memory:'));
  const bad = batch(2);
  (bad.records[1] as { path: unknown }).path = undefined; // NOT NULL fails on the second row
  assert.throws(() => s.ingest('agent', 'h', 1, bad, 0));
  assert.equal(s.count('records'), 0);
  assert.equal(s.storedSeqs().get('agent/h'), undefined);
  assert.equal(s.ingest('agent', 'h', 1, batch(1), 0).duplicate, false);
  s.close();
});

test('host facts are logged only when they change; overrides are kept and reset', () => {
  const s = keepAlive(new SqliteStore(':memory:'));

  assert.equal(s.hostFacts('h', facts, 1), true);
  assert.equal(s.hostFacts('h', facts, 2), false);
  assert.equal(s.hostFacts('h', { ...facts, cpus: 4 }, 3), true);
  assert.equal(s.count('host_facts_log'), 2);
  s.setOverride('server', 'web-a', { enabled: false });
  s.setOverride('application', 'shop', { enabled: true, sorryPage: '<p>x</p>' });
  assert.deepEqual(s.overrides(), {
    applications: { shop: { enabled: true, sorryPage: '<p>x</p>' } },
    servers: { 'web-a': { enabled: false } },
  });
  s.resetOverrides();
  assert.deepEqual(s.overrides(), { applications: {}, servers: {} });
  s.close();
});

test('retention deletes old rows only', () => {
  const s = keepAlive(new SqliteStore(':memory:'));
  s.ingest('agent', 'h', 1, batch(2), 1000);
  s.ingest('agent', 'h', 2, batch(3), 5000);
  assert.equal(s.prune(2000), 2 + 1 + 1);
  assert.equal(s.count('records'), 3);
  s.close();
});

test('a batch is stored only after the one it follows, so an acknowledgement never passes a failure', () => {
  const s = keepAlive(new SqliteStore(':memory:'));
  assert.equal(s.ingest('agent', 'h', 1, batch(1), 0).stored, 1);
  // Batch 2 failed (or is still on its way): 3 must not be stored past it.
  assert.deepEqual(s.ingest('agent', 'h', 3, batch(1), 0), { stored: 1, duplicate: false, outOfOrder: true });
  assert.equal(s.count('records'), 1);
  assert.deepEqual(s.ingest('agent', 'h', 2, batch(1), 0), { stored: 2, duplicate: false });
  assert.deepEqual(s.ingest('agent', 'h', 3, batch(1), 0), { stored: 3, duplicate: false });
  s.close();
});

test('a sender that dropped batches says from where; the gap is stored as an event, not waited for', () => {
  const s = keepAlive(new SqliteStore(':memory:'));
  s.ingest('agent', 'h', 1, batch(1), 0);
  assert.deepEqual(s.ingest('agent', 'h', 6, { ...batch(2), prev: 1, lost: 40 }, 5000), {
    stored: 6,
    duplicate: false,
  });
  assert.equal(s.count('records'), 3);
  assert.equal(s.count('events'), 3, "two batches' events and the gap");
  // A `prev` the store has not reached yet is no licence: batch 2 must come first.
  assert.equal(s.ingest('agent', 'x', 1, batch(1), 0).stored, 1);
  assert.equal(s.ingest('agent', 'x', 9, { ...batch(1), prev: 4, lost: 3 }, 0).outOfOrder, true);
  s.close();
});
