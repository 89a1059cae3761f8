import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Outbox } from '../../src/link/outbox.js';

const body = (n: number) => ({ records: Array.from({ length: n }, (_, i) => i), events: [], samples: [] });
const seqs = (box: Outbox) => box.unacked().map((b) => b.seq);

test('a fresh process follows the numbers the manager stored from its predecessor', () => {
  const box = new Outbox(100); // numbers from 1
  box.add(body(1));
  box.add(body(2));
  box.add(body(3));
  assert.deepEqual(seqs(box), [1, 2, 3]);
  box.rebase(500);
  assert.deepEqual(seqs(box), [501, 502, 503]);
  assert.equal(box.add(body(1))[0]!.seq, 504);
  // Renumbering touches nothing else: same batches, same contents, same size.
  assert.equal(box.batches, 4);
  assert.equal(box.size, 7);
  assert.deepEqual(
    box.unacked().map((b) => b.records.length),
    [1, 2, 3, 1],
  );
});

test('with nothing pending, the next batch follows the stored number', () => {
  const box = new Outbox(100);
  box.rebase(500);
  assert.equal(box.batches, 0);
  assert.equal(box.add(body(1))[0]!.seq, 501);
  assert.equal(box.add(body(1))[0]!.seq, 502);
});

test('acknowledgements work on the new numbers after a rebase', () => {
  const box = new Outbox(100);
  box.add(body(2));
  box.add(body(2));
  box.add(body(2));
  box.rebase(500);
  box.ack(3); // an old number: below everything pending, nothing goes
  assert.deepEqual(seqs(box), [501, 502, 503]);
  box.ack(500); // what the manager already had: nothing pending is that old
  assert.equal(box.batches, 3);
  box.ack(502);
  assert.deepEqual(seqs(box), [503]);
  assert.equal(box.size, 2);
  assert.equal(box.add(body(1))[0]!.seq, 504);
  box.ack(504);
  assert.equal(box.batches, 0);
  assert.equal(box.size, 0);
});

test('rebase(0) keeps numbering from 1', () => {
  const box = new Outbox(100);
  box.add(body(1));
  box.add(body(1));
  box.rebase(0);
  assert.deepEqual(seqs(box), [1, 2]);
  assert.equal(box.add(body(1))[0]!.seq, 3);

  const empty = new Outbox(100);
  empty.rebase(0);
  assert.equal(empty.add(body(1))[0]!.seq, 1);
});

test('rebase follows the stored number even when the box numbered on from disk', () => {
  // Restored with its own last number; the manager's is what counts.
  const ahead = new Outbox(100, 41);
  ahead.add(body(1)); // 42
  ahead.rebase(500);
  assert.deepEqual(seqs(ahead), [501]);
  assert.equal(ahead.add(body(1))[0]!.seq, 502);

  const behind = new Outbox(100, 41);
  behind.add(body(1)); // 42
  behind.rebase(10);
  assert.deepEqual(seqs(behind), [11]);
  assert.equal(behind.add(body(1))[0]!.seq, 12);
});

test('after an overflow, the batches kept are renumbered without gaps', () => {
  const box = new Outbox(10);
  for (let i = 0; i < 5; i++) box.add(body(4)); // 1..5; 1..3 dropped
  assert.deepEqual(seqs(box), [4, 5]);
  box.rebase(500);
  assert.deepEqual(seqs(box), [501, 502]);
  assert.equal(box.dropped, 12, 'the drop count is kept');
  assert.equal(box.add(body(1))[0]!.seq, 503);
});
