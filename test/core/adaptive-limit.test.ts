import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AdaptiveLimit,
  INITIAL_LIMIT,
  PROBE_EVERY,
  PROBE_LIMIT,
  PROBE_SAMPLES,
} from '../../src/core/adaptive-limit.js';

/**
 * A server with `slots` requests served at once in `base` ms; more wait in its queue. The
 * gateway keeps as many in flight as the limit lets it (demand never runs out). Returns the
 * limit after `seconds` of the fake clock, and the clock.
 */
function saturate(l: AdaptiveLimit, slots: number, base: number, seconds: number, from = 0) {
  let now = from;
  while (now < from + seconds * 1000) {
    const inFlight = l.limit;
    const latency = base * Math.max(1, inFlight / slots);
    now += latency / inFlight; // answers come at inFlight / latency a ms
    l.observe(latency, inFlight, now);
  }
  return now;
}

test('it measures the floor first, holding the server to a few requests', () => {
  const l = new AdaptiveLimit(() => 0.5);
  assert.equal(l.limit, PROBE_LIMIT);
  for (let i = 1; i < PROBE_SAMPLES; i++) l.observe(20, 2, i * 10);
  assert.equal(l.limit, PROBE_LIMIT, 'still measuring');
  // An answer sent with more in flight than the probe allows does not count.
  l.observe(500, 10, PROBE_SAMPLES * 10);
  assert.equal(l.limit, PROBE_LIMIT);
  l.observe(20, 3, PROBE_SAMPLES * 10 + 5);
  assert.equal(l.minRtt, 20);
  assert.equal(l.limit, INITIAL_LIMIT);
});

test('it settles a little past the knee: a server of 4, 8, 50 and 200 slots', () => {
  for (const [slots, base, lo, hi] of [
    [4, 20, 4, 10],
    [8, 20, 8, 18],
    [50, 10, 50, 90],
    [200, 5, 200, 320],
  ] as const) {
    const l = new AdaptiveLimit(() => 0.5);
    saturate(l, slots, base, 60);
    assert.ok(l.limit >= lo && l.limit <= hi, `${slots} slots: limit ${l.limit}, want ${lo}-${hi}`);
  }
});

test('a server that slows down gets a lower limit, and a higher one once it is fast again', () => {
  const l = new AdaptiveLimit(() => 0);
  let now = saturate(l, 50, 10, 30);
  const fast = l.limit;
  // Half its slots (a noisy neighbour): the knee moves, the limit follows within seconds.
  now = saturate(l, 25, 10, 10, now);
  assert.ok(l.limit < fast * 0.75, `${fast} then ${l.limit}`);
  now = saturate(l, 50, 10, 40, now);
  assert.ok(l.limit > fast * 0.8, `back to ${l.limit} (${fast} before)`);
});

test('the floor is measured again every half minute or so, jittered', () => {
  const l = new AdaptiveLimit(() => 1); // the latest: a third later
  const now = saturate(l, 50, 10, 1);
  const until = now + PROBE_EVERY * (4 / 3) + 1000;
  let probed = false;
  let t = now;
  while (t < until && !probed) {
    t = saturate(l, 50, 10, 0.1, t);
    if (l.limit === PROBE_LIMIT) probed = true;
  }
  assert.ok(probed, 'a probe within PROBE_EVERY x 4/3');
  assert.ok(t - now > PROBE_EVERY * 0.9, `not before: ${t - now} ms`);
});

test('a light load does not raise the limit: nothing shows more would help', () => {
  const l = new AdaptiveLimit(() => 0.5);
  let now = 0;
  for (let i = 0; i < PROBE_SAMPLES; i++) {
    now += 10;
    l.observe(10, 1, now);
  }
  const start = l.limit;
  for (let i = 0; i < 5000; i++) {
    now += 5;
    l.observe(10, 2, now); // two in flight, a limit of 20
  }
  assert.equal(l.limit, start);
});
