import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../src/core/backoff.js';
import { seededRandom } from '../../src/core/random.js';

const p = { initial: 500, factor: 2, maxAttempts: 6, jitter: 0.2 };

test('document 002 FIG. 10: the delay grows until A_max attempts, then stays constant', () => {
  const delays = [0, 1, 2, 3, 4, 5, 6, 50].map((a) => backoffDelay(a, p, () => 0));
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, 16000, 16000]);
});

test('jitter only shortens, by at most its share, and spreads the delays', () => {
  const r = seededRandom(7);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelay(2, p, r);
    assert.ok(d <= 2000 && d >= 1600, String(d));
    seen.add(Math.round(d));
  }
  assert.ok(seen.size > 100);
});

test('nonsense attempt numbers are treated as the first attempt', () => {
  assert.equal(
    backoffDelay(-3, p, () => 0),
    500,
  );
  assert.equal(
    backoffDelay(Number.NaN, p, () => 0),
    500,
  );
});
