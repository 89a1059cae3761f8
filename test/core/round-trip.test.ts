import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SentSince } from '../../src/core/queue-choice.js';
import { seededRandom } from '../../src/core/random.js';
import { followService, reportEvery } from '../../src/core/report-interval.js';
import { MIN_SAMPLES, RoundTripEstimate } from '../../src/core/round-trip.js';

/**
 * A door sends Poisson referrals to one server; each reaches it `trip` ms later, among
 * `others` a second from elsewhere. Every 25 ms the server's figures say how many arrived.
 */
function run(trip: number, others: number, seed: number, intervals = 2000): RoundTripEstimate {
  const r = seededRandom(seed);
  const rt = new RoundTripEstimate(80);
  const sent = new SentSince();
  const arrivals: number[] = [];
  let t = 0;
  const rate = 200 / 1000; // the door's referrals a ms
  const expo = (perMs: number) => -Math.log(1 - r()) / perMs;
  let nextRef = expo(rate);
  let nextOther = expo(others / 1000);
  for (let k = 1; k <= intervals; k++) {
    const end = 25 * k;
    while (Math.min(nextRef, nextOther) <= end) {
      if (nextRef <= nextOther) {
        sent.add(nextRef);
        arrivals.push(nextRef + trip);
        nextRef += expo(rate);
      } else {
        arrivals.push(nextOther);
        nextOther += expo(others / 1000);
      }
    }
    const from = end - 25;
    const came = arrivals.filter((a) => a > from && a <= end).length;
    rt.add(came, from, end, (a, b) => sent.between(a, b));
    sent.measured(end, 300);
    t = end;
  }
  assert.ok(t > 0);
  return rt;
}

test('the round trip is learnt from when referrals show up in the figures, among other traffic', () => {
  for (const [trip, others] of [
    [0, 0],
    [20, 100],
    [60, 400],
    [150, 200],
  ] as const) {
    const rt = run(trip, others, 7);
    assert.ok(Math.abs(rt.value - trip) <= 5, `true ${trip} ms, learnt ${rt.value} ms`);
  }
});

test('until enough intervals are in, the configured round trip stands', () => {
  const rt = run(20, 0, 3, MIN_SAMPLES - 1);
  assert.equal(rt.value, 80);
  // A gap (a lost report) or a nonsense interval teaches nothing.
  const fresh = new RoundTripEstimate(80);
  fresh.add(5, 100, 100, () => 0);
  fresh.add(5, 100, 5000, () => 0);
  fresh.add(Number.NaN, 0, 25, () => 0);
  assert.equal(fresh.value, 80);
});

test('figures come faster for fast servers: half the fastest mean service time, within 5 ms and the setting', () => {
  assert.equal(reportEvery(25, [20, 80]), 10);
  assert.equal(reportEvery(25, [5, 20]), 5);
  assert.equal(reportEvery(25, [2]), 5); // never below 5 ms
  assert.equal(reportEvery(25, [200]), 25); // slow servers keep the setting
  assert.equal(reportEvery(25, []), 25);
  assert.equal(reportEvery(25, [0]), 25); // nothing measured
  assert.equal(reportEvery(3, [1]), 3); // a setting below 5 ms is kept
  assert.equal(followService(0, 12, 4), 12);
  assert.equal(followService(20, 0, 0), 20);
  assert.ok(Math.abs(followService(20, 40, 200) - 30) < 1e-9);
});
