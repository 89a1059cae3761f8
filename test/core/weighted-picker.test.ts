import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/core/random.js';
import { WeightedPicker } from '../../src/core/weighted-picker.js';

test('document 002 FIG. 12: r = 0.517 picks server C', () => {
  // The document says these total 10,000; they total 11,000 (see docs/decisions.md).
  // C is picked either way.
  const p = new WeightedPicker([1500, 2250, 3250, 2000, 1000, 1000]);
  assert.equal(p.total(), 11_000);
  assert.equal(p.pick(0.517), 2);
});

test('interval boundaries follow the cumulative weights', () => {
  const p = new WeightedPicker([1, 2, 3, 4]);
  const cases: Array<[number, number]> = [
    [0, 0],
    [0.0999, 0],
    [0.1, 1],
    [0.2999, 1],
    [0.3, 2],
    [0.5999, 2],
    [0.6, 3],
    [0.99999, 3],
  ];
  for (const [r, want] of cases) assert.equal(p.pick(r), want, `r=${r}`);
});

test('zero, negative and non-finite weights are never picked; all zero means no server', () => {
  const p = new WeightedPicker([0, -5, Number.NaN, 7, 0]);
  const rand = seededRandom(1);
  for (let i = 0; i < 2000; i++) assert.equal(p.pick(rand()), 3);
  p.set(3, 0);
  assert.equal(p.total(), 0);
  assert.equal(p.pick(0.5), -1);
  assert.equal(new WeightedPicker([]).pick(0.1), -1);
});

test('set() updates one weight and keeps the others', () => {
  const p = new WeightedPicker([5, 5, 5]);
  p.set(1, 0);
  assert.equal(p.total(), 10);
  assert.equal(p.pick(0.49), 0);
  assert.equal(p.pick(0.5), 2);
  p.set(1, 10);
  assert.equal(p.total(), 20);
  assert.equal(p.pick(0.5), 1);
});

test('shares match weights over many picks (random sizes)', () => {
  const rand = seededRandom(7);
  for (const n of [1, 2, 3, 7, 16, 33]) {
    const weights = Array.from({ length: n }, (_, i) => (i % 4 === 3 ? 0 : 1 + Math.floor(rand() * 9)));
    const p = new WeightedPicker(weights);
    const counts = new Array(n).fill(0);
    const picks = 40_000;
    for (let i = 0; i < picks; i++) {
      const k = p.pick(rand());
      if (k >= 0) counts[k]++;
    }
    const total = weights.reduce((a, b) => a + b, 0);
    for (let i = 0; i < n; i++) {
      const want = total > 0 ? weights[i]! / total : 0;
      assert.ok(
        Math.abs(counts[i] / picks - want) < 0.015,
        `n=${n} i=${i} got ${counts[i] / picks} want ${want}`,
      );
    }
  }
});
