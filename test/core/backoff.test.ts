import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, LINK_BACKOFF } from '../../src/core/backoff.js';
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

test("links to the manager redial with full jitter: a site's components spread over the whole first delay", () => {
  // A manager restart drops every link at once; a quarter's jitter brought them all back
  // within about 60 ms of each other. Full jitter spreads 100 components over 0-500 ms.
  const r = seededRandom(11);
  const first = Array.from({ length: 100 }, () => backoffDelay(0, LINK_BACKOFF, r)).sort((a, b) => a - b);
  assert.ok(first[0]! < 25 && first.at(-1)! > 475, `${first[0]} to ${first.at(-1)}`);
  const within60 = first.filter((d) => d - first[0]! <= 60).length;
  assert.ok(within60 < 25, `${within60} of 100 within 60 ms of the first`);
  assert.ok(backoffDelay(10, LINK_BACKOFF, () => 0.999) <= 8000);
});
