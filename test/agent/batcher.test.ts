import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batcher, DEFAULT_BATCH_LIMITS } from '../../src/agent/batcher.js';

test('document 002: a batch goes at 100 records', () => {
  const b = new Batcher<number>(DEFAULT_BATCH_LIMITS);
  for (let i = 0; i < 99; i++) assert.equal(b.add(i, 10, 0), undefined);
  assert.equal(b.add(99, 10, 0)?.length, 100);
  assert.equal(b.length, 0);
});

test('... or at 8 KiB, whichever comes first', () => {
  const b = new Batcher<number>(DEFAULT_BATCH_LIMITS);
  assert.equal(b.add(1, 5000, 0), undefined);
  assert.deepEqual(b.add(2, 3192, 0), [1, 2]);
});

test('... or when the oldest record is 30 s old, counted from the first record of the batch', () => {
  const b = new Batcher<number>(DEFAULT_BATCH_LIMITS);
  assert.equal(b.due(100_000), undefined, 'nothing to send');
  b.add(1, 10, 1000);
  b.add(2, 10, 20_000);
  assert.equal(b.due(30_999), undefined);
  assert.deepEqual(b.due(31_000), [1, 2]);
  b.add(3, 10, 40_000);
  assert.equal(b.due(69_999), undefined);
  assert.deepEqual(b.due(70_000), [3]);
});
