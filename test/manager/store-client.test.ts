import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { StoreClient } from '../../src/manager/store/store-client.js';
import { eventually, openDatabase, tempDir } from '../helpers.js';
import { batch, hostFacts as facts } from './store-fixtures.js';

const T = { timeout: 20_000 };

const dbFile = () => join(tempDir(), 'data', 'switchyard.db');

/** Opens a store in a fresh directory; closed after the test. */
async function openStore(t: TestContext, file = dbFile()): Promise<StoreClient> {
  const store = await StoreClient.open(file);
  t.after(() => store.close());
  return store;
}

test('an ingested batch is stored and its number is remembered per sender', T, async (t) => {
  const file = dbFile();
  const store = await StoreClient.open(file);
  assert.deepEqual(await store.storedSeqs(), new Map());
  assert.deepEqual(await store.ingest('agent', 'host-1', 1, batch(3), 1000), { stored: 1, duplicate: false });
  assert.deepEqual(await store.ingest('interceptor', 'ic', 1, batch(1), 1000), {
    stored: 1,
    duplicate: false,
  });
  assert.deepEqual(
    await store.storedSeqs(),
    new Map([
      ['agent/host-1', 1],
      ['interceptor/ic', 1],
    ]),
  );
  assert.equal(await store.count('records'), 4);
  assert.equal(await store.count('events'), 2);
  assert.equal(await store.count('samples'), 2);
  await store.close();

  // The numbers are in the file: a new thread on it sees them.
  const again = await openStore(t, file);
  assert.equal((await again.storedSeqs()).get('agent/host-1'), 1);
  assert.equal(await again.count('records'), 4);
});

test('a replayed number is a duplicate and is not stored twice', T, async (t) => {
  const store = await openStore(t);
  await store.ingest('agent', 'h', 1, batch(2), 0);
  await store.ingest('agent', 'h', 2, batch(2), 0);
  assert.deepEqual(await store.ingest('agent', 'h', 2, batch(2), 0), { stored: 2, duplicate: true });
  assert.deepEqual(await store.ingest('agent', 'h', 1, batch(2), 0), { stored: 2, duplicate: true });
  assert.equal(await store.count('records'), 4);
  assert.equal((await store.storedSeqs()).get('agent/h'), 2);
});

test('many calls fired at once are answered in order, each with its own answer', T, async (t) => {
  const store = await openStore(t);
  const size = (seq: number) => (seq % 3) + 1;
  const ingests: Promise<{ stored: number; duplicate: boolean }>[] = [];
  const counts: Promise<number>[] = [];
  for (let seq = 1; seq <= 200; seq++) {
    ingests.push(store.ingest('agent', 'h', seq, batch(size(seq)), 0));
    counts.push(store.count('records')); // asked between this batch and the next
  }
  const replays = Array.from({ length: 200 }, (_, i) => store.ingest('agent', 'h', i + 1, batch(5), 0));
  const answers = await Promise.all(ingests);
  for (const [i, a] of answers.entries())
    assert.deepEqual(a, { stored: i + 1, duplicate: false }, `batch ${i + 1}`);
  let total = 0;
  for (const [i, n] of (await Promise.all(counts)).entries()) {
    total += size(i + 1);
    assert.equal(n, total, `records after batch ${i + 1}`);
  }
  for (const r of await Promise.all(replays)) assert.deepEqual(r, { stored: 200, duplicate: true });
  assert.equal(await store.count('records'), total);
  assert.equal(await store.count('events'), 200);
  assert.equal((await store.storedSeqs()).get('agent/h'), 200);
});

test('a call that fails in the store rejects with its reason; the next ones are answered', T, async (t) => {
  const store = await openStore(t);
  const bad = batch(2);
  (bad.records[1] as { path: unknown }).path = undefined; // NOT NULL fails on the second row
  const failing = store.ingest('agent', 'h', 1, bad, 0);
  const next = store.ingest('agent', 'h', 1, batch(1), 0);
  await assert.rejects(failing, /NOT NULL/);
  assert.deepEqual(await next, { stored: 1, duplicate: false });
  assert.equal(await store.count('records'), 1);
});

test('overrides are set, read back and reset', T, async (t) => {
  const store = await openStore(t);
  assert.deepEqual(await store.overrides(), { applications: {}, servers: {} });
  await store.setOverride('server', 'web-a', { enabled: false });
  await store.setOverride('server', 'web-b', { capacity: 3 });
  await store.setOverride('application', 'shop', { enabled: true, sorryPage: '<p>x</p>' });
  await store.setOverride('server', 'web-a', { enabled: true }); // replaces, does not add
  assert.deepEqual(await store.overrides(), {
    applications: { shop: { enabled: true, sorryPage: '<p>x</p>' } },
    servers: { 'web-a': { enabled: true }, 'web-b': { capacity: 3 } },
  });
  await store.resetOverrides();
  assert.deepEqual(await store.overrides(), { applications: {}, servers: {} });
});

test("the manager's own events and host facts are stored", T, async (t) => {
  const store = await openStore(t);
  await store.event('web-a', 'server.down', 'error', 'web-a is down: refused', 1000);
  await store.event('shop', 'application.swamped', 'warn', 'shop is swamped', 3000);
  assert.equal(await store.count('events'), 2);
  assert.equal(await store.prune(2000), 1, 'the older event goes');
  assert.equal(await store.count('events'), 1);

  assert.equal(await store.hostFacts('h', facts, 1), true);
  assert.equal(await store.hostFacts('h', facts, 2), false);
  assert.equal(await store.count('host_facts_log'), 1);
});

test('close answers what was asked before it, ends the thread, and later calls reject', T, async () => {
  const file = dbFile();
  const store = await StoreClient.open(file);
  const queued = Array.from({ length: 50 }, (_, i) => store.ingest('agent', 'h', i + 1, batch(1), 0));
  await store.close();
  assert.equal((await Promise.all(queued)).length, 50);
  await assert.rejects(store.count('records'), /store thread stopped/);
  await assert.rejects(store.storedSeqs(), /store thread stopped/);
  await store.close(); // a second close is harmless

  // Everything asked before the close was committed.
  const again = await StoreClient.open(file);
  try {
    assert.equal(await again.count('records'), 50);
    assert.equal((await again.storedSeqs()).get('agent/h'), 50);
  } finally {
    await again.close();
  }
});

test('a file whose directory cannot be made is refused with a clear message', T, async () => {
  const dir = tempDir({ blocker: 'a file, not a directory' });
  const file = join(dir, 'blocker', 'data', 'switchyard.db');
  await assert.rejects(StoreClient.open(file), (e: Error) => {
    assert.ok(e.message.startsWith(`cannot open the store at ${file}: `), e.message);
    assert.match(e.message, /ENOTDIR/);
    return true;
  });
  // A directory where the file should be.
  const taken = tempDir();
  await assert.rejects(
    StoreClient.open(taken),
    /^Error: cannot open the store at .*: unable to open database file/,
  );
});

/** Holds the database's write lock from another connection (as another process would) for `ms`. */
function holdLock(file: string, ms: number): Promise<void> {
  const other = openDatabase(file);
  other.exec('BEGIN EXCLUSIVE');
  return new Promise((r) =>
    setTimeout(() => {
      other.exec('COMMIT');
      other.close();
      r();
    }, ms),
  );
}

test('a batch waits for a database another process holds locked, within the busy time-out', T, async (t) => {
  const file = dbFile();
  const store = await openStore(t, file);
  await store.ingest('agent', 'h', 1, batch(1), 0);
  const released = holdLock(file, 400);
  const t0 = Date.now();
  assert.deepEqual(await store.ingest('agent', 'h', 2, batch(1), 0), { stored: 2, duplicate: false });
  assert.ok(Date.now() - t0 >= 300, 'it waited for the lock');
  await released;
  assert.equal(store.health().state, 'ok');
});

test(
  'a lock held past the time-out fails the batch, refuses what follows it, and says the store is failing until a write succeeds',
  T,
  async (t) => {
    const file = dbFile();
    const states: string[] = [];
    const store = await StoreClient.open(file, { busyTimeout: 100, onHealth: (h) => states.push(h.state) });
    t.after(() => store.close());
    await store.ingest('agent', 'h', 1, batch(1), 0);
    const released = holdLock(file, 600);
    await assert.rejects(store.ingest('agent', 'h', 2, batch(1), 0), /locked/);
    assert.equal(store.health().state, 'failing');
    assert.match(store.health().error ?? '', /locked/);
    // Batch 3 behind the failed 2 is refused at once, without waiting for the lock again.
    const t0 = Date.now();
    assert.equal((await store.ingest('agent', 'h', 3, batch(1), 0)).outOfOrder, true);
    assert.ok(Date.now() - t0 < 90);
    await released;
    assert.equal((await store.ingest('agent', 'h', 2, batch(1), 0)).stored, 2);
    assert.equal((await store.ingest('agent', 'h', 3, batch(1), 0)).stored, 3);
    assert.equal(store.health().state, 'ok');
    assert.deepEqual(states, ['failing', 'ok']);
    assert.equal(await store.count('records'), 3);
  },
);

test(
  'a store thread that dies is started again; what it was asked is refused, later calls work',
  T,
  async (t) => {
    const file = dbFile();
    const store = await openStore(t, file);
    await store.ingest('agent', 'h', 1, batch(1), 0);
    await store.crashForTest();
    assert.equal(store.health().state, 'down');
    await assert.rejects(store.count('records'), /being started again/);
    await eventually(() => store.health().state === 'ok', 'the store thread back', 5000);
    assert.equal(store.health().restarts, 1);
    assert.equal(await store.count('records'), 1);
    assert.equal((await store.ingest('agent', 'h', 2, batch(1), 0)).stored, 2);
  },
);
