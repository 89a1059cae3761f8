import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Outbox } from '../../src/link/outbox.js';

const body = (n: number) => ({ records: Array.from({ length: n }, (_, i) => i), events: [], samples: [] });

test('batches get increasing sequence numbers and stay until acknowledged', () => {
  const box = new Outbox(100);
  assert.equal(box.add(body(2))[0]!.seq, 1);
  assert.equal(box.add(body(3))[0]!.seq, 2);
  assert.deepEqual(box.add(body(0)), []);
  assert.equal(box.add(body(1))[0]!.seq, 3);
  assert.equal(box.size, 6);
  box.ack(2);
  assert.deepEqual(
    box.unacked().map((b) => b.seq),
    [3],
  );
  assert.equal(box.size, 1);
  box.ack(2); // a repeated ack changes nothing
  assert.equal(box.batches, 1);
});

test('numbering goes on from a given last number', () => {
  assert.equal(new Outbox(10, 41).add(body(1))[0]!.seq, 42);
});

test('when full, the oldest batches go first and are counted', () => {
  const box = new Outbox(10);
  for (let i = 0; i < 5; i++) box.add(body(4));
  assert.equal(box.size, 8);
  assert.equal(box.dropped, 12);
  assert.deepEqual(
    box.unacked().map((b) => b.seq),
    [4, 5],
  );
  // One batch larger than the bound is kept whole rather than lost.
  const big = new Outbox(3);
  big.add(body(5));
  assert.equal(big.size, 5);
});

test('a body bigger than a batch may be is split in order, never refused or dropped', () => {
  const box = new Outbox(1000, 0, { items: 3, bytes: 1 << 20 });
  const parts = box.add({ records: [1, 2, 3, 4], events: [5, 6], samples: [7] });
  assert.deepEqual(
    parts.map((b) => [b.seq, b.records, b.events, b.samples]),
    [
      [1, [1, 2, 3], [], []],
      [2, [4], [5, 6], []],
      [3, [], [], [7]],
    ],
  );
  // By bytes: each item counted as encoded; a limit of 256 + 20 bytes holds two 9-byte items.
  const bytes = new Outbox(1000, 0, { items: 100, bytes: 276 });
  const cut = bytes.add({ records: ['aaaaaaa', 'bbbbbbb', 'ccccccc'], events: [], samples: [] });
  assert.deepEqual(
    cut.map((b) => b.records),
    [['aaaaaaa', 'bbbbbbb'], ['ccccccc']],
  );
});

test('after a drop the first batch kept says what was lost since the last acknowledgement', () => {
  const box = new Outbox(8);
  box.add(body(4)); // 1
  box.ack(1);
  for (let i = 0; i < 4; i++) box.add(body(4)); // 2..5: 2 and 3 dropped
  const [head, next] = box.unacked();
  assert.equal(head!.seq, 4);
  assert.equal(head!.prev, 1, 'the manager may go on from 1');
  assert.equal(head!.lost, 8, 'the items of batches 2 and 3');
  assert.equal(next!.prev, undefined);
  box.ack(4);
  assert.equal(box.unacked()[0]!.prev, undefined, 'once past the gap, nothing more to say');
});
