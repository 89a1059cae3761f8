import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Outbox } from '../../src/link/outbox.js';

const body = (n: number) => ({ records: Array.from({ length: n }, (_, i) => i), events: [], samples: [] });

test('batches get increasing sequence numbers and stay until acknowledged', () => {
  const box = new Outbox(100);
  assert.equal(box.add(body(2))!.seq, 1);
  assert.equal(box.add(body(3))!.seq, 2);
  assert.equal(box.add(body(0)), undefined);
  assert.equal(box.add(body(1))!.seq, 3);
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
  assert.equal(new Outbox(10, 41).add(body(1))!.seq, 42);
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
