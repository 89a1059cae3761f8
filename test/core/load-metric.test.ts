import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadMetric, staticCapacity } from '../../src/core/load-metric.js';

const MIN = 60_000;

test('document 002 example: T = 20 min, C = 2,000, L = 1,000', () => {
  const C = staticCapacity(2);
  assert.equal(C, 2000);
  const dyn = { value: 1000, measuredAt: 0 };
  const expected: Array<[number, number]> = [
    [0, 1000],
    [5, 1250],
    [10, 1500],
    [15, 1750],
    [20, 2000],
    [25, 2000],
    [600, 2000],
  ];
  for (const [minutes, lm] of expected) {
    assert.equal(loadMetric(C, dyn, 20 * MIN, minutes * MIN), lm, `at ${minutes} min`);
  }
});

test('document 002 example: T = 30 min weighs both equally at 15 min', () => {
  assert.equal(loadMetric(4000, { value: 2000, measuredAt: 0 }, 30 * MIN, 15 * MIN), 3000);
  assert.equal(loadMetric(4000, { value: 0, measuredAt: 0 }, 30 * MIN, 22.5 * MIN), 3000);
});

test('no dynamic value yet: LM = C', () => {
  assert.equal(loadMetric(3000, undefined, 20 * MIN, 123), 3000);
});

test('a reading from the future counts as fresh and L is clamped to 0..10,000', () => {
  assert.equal(loadMetric(2000, { value: 500, measuredAt: 1000 }, MIN, 0), 500);
  assert.equal(loadMetric(2000, { value: 99_999, measuredAt: 0 }, MIN, 0), 10_000);
  assert.equal(loadMetric(2000, { value: -5, measuredAt: 0 }, MIN, 0), 0);
});

test('capacity 1..10 scales to 1,000..10,000 and anything else is refused', () => {
  assert.equal(staticCapacity(1), 1000);
  assert.equal(staticCapacity(10), 10_000);
  assert.equal(staticCapacity(2.5), 2500);
  for (const bad of [0, 11, Number.NaN, -1, Number.POSITIVE_INFINITY]) {
    assert.throws(() => staticCapacity(bad), RangeError);
  }
});
