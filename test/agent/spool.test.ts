import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Spool } from '../../src/agent/spool.js';
import { Outbox } from '../../src/link/outbox.js';
import type { RequestRecord, Sample, SwitchyardEvent } from '../../src/protocol/messages.js';
import { eventually, tempDir } from '../helpers.js';

const rec = (path: string): RequestRecord => ({
  server: 'web-a',
  start: 1_800_000_000_000,
  method: 'GET',
  path,
  status: 200,
  queueWait: 0,
  serviceTime: 1,
});
const ev = { source: 'host-1', code: 'agent.test', level: 'info' as const, text: 't', age: 0 };

test('what the agent held comes back after a crash: unacknowledged batches, records not yet batched, the lines seen', async () => {
  const dir = tempDir();
  const { spool, restored } = Spool.open(dir);
  assert.equal(restored.found, false);
  spool.records('a1', 1, [rec('/1'), rec('/2')]);
  spool.records('a1', 2, [rec('/3')]);
  spool.batch({ seq: 1, records: [], events: [ev], samples: [] }, 2); // /1 and /2
  spool.records('b2', 7, [rec('/4')]);
  spool.batch({ seq: 2, records: [], events: [], samples: [] }, 1); // /3
  spool.ack(1);
  await spool.sync();
  // No close: the process is gone.
  const back = Spool.open(dir).restored;
  assert.equal(back.found, true);
  assert.equal(back.acked, 1);
  assert.equal(back.lastSeq, 2);
  assert.deepEqual(
    back.batches.map((b) => [b.seq, b.records.map((r) => r.path)]),
    [[2, ['/3']]],
  );
  assert.deepEqual(
    back.records.map((r) => r.path),
    ['/4'],
  );
  assert.deepEqual(
    [...back.lines],
    [
      ['a1', 2],
      ['b2', 7],
    ],
  );
});

test('a torn last line is cut off and damaged values are dropped and counted, never passed on', () => {
  const dir = tempDir();
  const { spool } = Spool.open(dir);
  spool.records('a1', 1, [rec('/ok'), { ...rec('/bad'), status: 'x' as unknown as number }]);
  spool.close();
  const file = join(dir, 'spool.jsonl');
  appendFileSync(file, 'not json\n{"zz":1}\n{"m":["a1",2],"r":[');
  const back = Spool.open(dir).restored;
  assert.deepEqual(
    back.records.map((r) => r.path),
    ['/ok'],
  );
  assert.equal(back.invalid, 3, 'the bad record, the line that is not JSON, the unknown value');
  assert.equal(back.lines.get('a1'), 1, 'the torn line was never acknowledged: it is not counted');
  assert.ok(!readFileSync(file, 'utf8').includes('"r":[\n') && readFileSync(file, 'utf8').endsWith('\n'));
});

test('a compaction keeps only what is held, and reads back the same', async () => {
  const dir = tempDir();
  const { spool } = Spool.open(dir, { compactAt: 1 });
  for (let i = 1; i <= 50; i++) {
    spool.records('a1', i, [rec(`/${i}`)]);
    spool.batch({ seq: i, records: [], events: [], samples: [] }, 1);
    if (i < 50) spool.ack(i);
  }
  const big = statSync(join(dir, 'spool.jsonl')).size;
  assert.equal(spool.due, true);
  const state = Spool.open(dir).restored;
  spool.rewrite({
    batches: state.batches,
    records: [rec('/pending')],
    acked: state.acked,
    lastSeq: state.lastSeq,
    lines: state.lines,
  });
  assert.ok(spool.size < big / 5, `${spool.size} bytes after, ${big} before`);
  spool.records('a1', 51, [rec('/51')]);
  await spool.sync();
  const back = Spool.open(dir).restored;
  assert.deepEqual(
    back.batches.map((b) => [b.seq, b.records.map((r) => r.path)]),
    [[50, ['/50']]],
  );
  assert.deepEqual(
    back.records.map((r) => r.path),
    ['/pending', '/51'],
  );
  assert.equal(back.acked, 49);
  assert.equal(back.lines.get('a1'), 51);
});

test('the spool is bounded in bytes: past half of the bound the oldest batches are dropped, counted and said as a gap, and the file stays within the bound', () => {
  const dir = tempDir();
  const file = join(dir, 'spool.jsonl');
  const maxBytes = 64 * 1024;
  // compactAt 1: no 1 MiB floor, so the bound alone decides (the agent's default is 64 MiB).
  const { spool } = Spool.open(dir, { maxBytes, compactAt: 1 });
  assert.equal(spool.holdBytes, maxBytes / 2);
  // What the agent does (agent.ts): its outbox holds at most the spool's holdBytes; each
  // interface line is spooled, each batch cut is spooled, and the spool is compacted when due.
  const outbox = new Outbox<RequestRecord, SwitchyardEvent, Sample>({
    items: 1_000_000,
    bytes: spool.holdBytes,
  });
  const BATCHES = 200;
  const PER_BATCH = 10;
  let overshoot = 0;
  for (let i = 1; i <= BATCHES; i++) {
    const records = Array.from({ length: PER_BATCH }, (_, j) => rec(`/${i}/${j}/${'x'.repeat(60)}`));
    const before = spool.size;
    spool.records('a1', i, records);
    for (const b of outbox.add({ records, events: [], samples: [] })) spool.batch(b, b.records.length);
    // Past the bound only by what was appended since the last check, never more.
    overshoot = Math.max(overshoot, statSync(file).size - maxBytes - (spool.size - before));
    if (spool.due)
      spool.rewrite({
        batches: outbox.unacked(),
        records: [],
        acked: outbox.acked,
        lastSeq: outbox.lastSeq,
        lines: new Map([['a1', i]]),
      });
    assert.ok(statSync(file).size <= maxBytes, `after line ${i}: ${statSync(file).size} bytes`);
    assert.ok(outbox.bytes <= spool.holdBytes, `held ${outbox.bytes} bytes`);
  }
  assert.ok(overshoot <= 0, `the file passed its bound by ${overshoot} bytes more than one line and batch`);

  // The manager was away: everything past the bound went, oldest first, and was counted.
  const total = BATCHES * PER_BATCH;
  assert.ok(outbox.dropped > total / 2, `${outbox.dropped} of ${total} dropped`);
  assert.equal(outbox.size + outbox.dropped, total, 'each record kept or counted as dropped');
  const [head] = outbox.unacked();
  assert.equal(head!.prev, 0, 'the manager is told where the kept batches go on from');
  assert.equal(head!.lost, outbox.dropped, 'and how many items were dropped before them');

  // A crash now leaves on disk the newest batches, in order (some dropped since the last
  // compaction may still be there); taken back into an outbox of the same bound, they are
  // what was held.
  const back = Spool.open(dir, { maxBytes }).restored;
  const seqs = back.batches.map((b) => b.seq);
  assert.equal(seqs.at(-1), BATCHES);
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, k) => BATCHES - seqs.length + 1 + k),
  );
  assert.ok(seqs[0]! > 1, 'the oldest are the ones gone');
  const again = new Outbox<RequestRecord, SwitchyardEvent, Sample>({
    items: 1_000_000,
    bytes: spool.holdBytes,
  });
  for (const b of back.batches) again.restore(b);
  assert.deepEqual(
    again.unacked().map((b) => [b.seq, b.records.length]),
    outbox.unacked().map((b) => [b.seq, b.records.length]),
  );
});

test('the spool is compacted at twice what it holds, but never past its bound', () => {
  const dir = tempDir();
  const maxBytes = 40 * 1024;
  const { spool } = Spool.open(dir, { maxBytes, compactAt: 1 });
  const held = Array.from({ length: 100 }, (_, i) => rec(`/held/${i}/${'y'.repeat(100)}`));
  spool.rewrite({ batches: [], records: held, acked: 0, lastSeq: 0, lines: new Map() }); // ~20 KiB
  assert.ok(spool.size > maxBytes / 2 && spool.size < maxBytes, `${spool.size} bytes held`);
  // Twice what is held would be past the bound: due once the file passes the bound instead.
  let n = 0;
  while (!spool.due) spool.records('a1', ++n, [rec(`/${n}`)]);
  assert.ok(spool.size > maxBytes && spool.size < maxBytes + 200, `due at ${spool.size} bytes`);
});

/** Slack for a loaded machine on top of the promised 100 ms. */
const SLACK = 150;

test('what is appended is on disk within 100 ms, with no sync asked and no close: a fresh spool reads it back', async () => {
  const dir = tempDir();
  const { spool } = Spool.open(dir); // the agent's defaults
  for (let i = 1; i <= 3; i++) {
    spool.records('a1', i, [rec(`/${i}`)]);
    const at = performance.now();
    const size = spool.size;
    assert.ok(spool.synced < size, 'not synced at once (the syncs are shared)');
    await eventually(() => spool.synced >= size, `line ${i} to be synced`, 100 + SLACK);
    const lag = performance.now() - at;
    assert.ok(lag <= 100 + SLACK, `synced ${Math.round(lag)} ms after it was appended`);
    // Another process reading the file now (the agent died without closing it) finds it all.
    const fresh = Spool.open(dir);
    fresh.spool.close();
    assert.deepEqual(
      fresh.restored.records.map((r) => r.path),
      Array.from({ length: i }, (_, k) => `/${k + 1}`),
    );
  }
  spool.close();
});

test('under steady appends every line is synced within 100 ms: later appends never put the sync off', async () => {
  const dir = tempDir();
  const { spool } = Spool.open(dir);
  const waiting: Array<{ at: number; size: number }> = [];
  const lags: number[] = [];
  const watch = setInterval(() => {
    while (waiting.length > 0 && spool.synced >= waiting[0]!.size)
      lags.push(performance.now() - waiting.shift()!.at);
  }, 2);
  try {
    // A line every 10 ms for about 300 ms: a sync that waited for a quiet moment would never come.
    for (let i = 1; i <= 30; i++) {
      spool.records('a1', i, [rec(`/${i}`)]);
      waiting.push({ at: performance.now(), size: spool.size });
      await new Promise((r) => setTimeout(r, 10));
    }
    await eventually(() => waiting.length === 0, 'every line to be synced', 100 + SLACK);
  } finally {
    clearInterval(watch);
  }
  assert.equal(lags.length, 30);
  const worst = Math.max(...lags);
  assert.ok(worst <= 100 + SLACK, `the slowest line was synced after ${Math.round(worst)} ms`);
  assert.equal(Spool.open(dir).restored.records.length, 30);
  spool.close();
});

test('a sync the disk refuses tells nobody the lines are saved; they are told once a sync works', async () => {
  const dir = tempDir();
  let failing = true;
  let calls = 0;
  const datasync = ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    calls++;
    if (failing)
      queueMicrotask(() => cb(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })));
    else queueMicrotask(() => cb(null));
    void fd;
  }) as unknown as typeof import('node:fs').fdatasync;
  const { spool } = Spool.open(dir, { syncEvery: 10, datasync });
  spool.records('a1', 1, [rec('/1')]);
  let told = false;
  void spool.sync().then(() => {
    told = true;
  });
  await eventually(() => calls >= 3, 'the sync tried again after it failed');
  assert.equal(told, false, 'nobody is told the line is on disk while the disk refuses');
  assert.ok(spool.syncFailures >= 3);
  assert.match(spool.lastSyncError ?? '', /EIO/);
  // Tried again on the schedule, not in a tight loop: about one try each syncEvery.
  const before = calls;
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(calls - before <= 15, `${calls - before} tries in 100 ms`);
  failing = false;
  await eventually(() => told, 'told once a sync worked');
  spool.close();
});
