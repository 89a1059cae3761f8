import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Spool } from '../../src/agent/spool.js';
import type { RequestRecord } from '../../src/protocol/messages.js';
import { tempDir } from '../helpers.js';

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
