import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  costOf,
  isEjected,
  maybeEject,
  newServerWatch,
  observe,
  rampOf,
  takeProbe,
  WATCH_DEFAULTS,
} from '../../src/core/server-watch.js';

const p = { ...WATCH_DEFAULTS, tau: 1000, consecutiveFailures: 3, ejectFor: 1000, slowStart: 10_000 };

test('peak-EWMA: a slower answer counts at once, faster ones pull the estimate down over tau', () => {
  const w = newServerWatch();
  observe(w, 10, true, 0, p);
  assert.equal(w.latency, 10);
  observe(w, 100, true, 10, p);
  assert.equal(w.latency, 100, 'the peak is taken at once');
  observe(w, 10, true, 1010, p); // one tau later: e^-1 of the old value stays
  assert.ok(Math.abs(w.latency - (100 * Math.exp(-1) + 10 * (1 - Math.exp(-1)))) < 1e-9, String(w.latency));
  observe(w, 10, true, 1010, p); // no time passed: no change
  assert.ok(w.latency > 40);
});

test('failures in a row eject a server for ejectFor times the ejections before, then one request probes it', () => {
  const w = newServerWatch();
  for (let i = 0; i < 2; i++) observe(w, 5, false, 0, p);
  assert.equal(maybeEject(w, 0, p, 0, 4, 0.5), false, 'two failures are not three');
  observe(w, 5, true, 0, p); // a success breaks the row
  for (let i = 0; i < 3; i++) observe(w, 5, false, 0, p);
  assert.equal(maybeEject(w, 0, p, 0, 4, 0.5), true);
  assert.equal(isEjected(w, 500), true);
  assert.equal(takeProbe(w, 500), false, 'not before its time');
  assert.equal(takeProbe(w, 1000), true, 'its time is up: one probe');
  assert.equal(takeProbe(w, 1000), false, 'one at a time');
  assert.equal(isEjected(w, 1000), true, 'still out while the probe is out');
  // The probe fails: out again, twice as long.
  observe(w, 5, false, 1100, p);
  assert.equal(w.ejectedUntil, 1100 + 2000);
  assert.ok(takeProbe(w, 3100));
  // This probe succeeds: in again, ramping up from a tenth.
  observe(w, 5, true, 3200, p);
  assert.equal(isEjected(w, 3200), false);
  assert.ok(Math.abs(rampOf(w, 3200, p) - 0.1) < 1e-9);
  assert.ok(Math.abs(rampOf(w, 8200, p) - 0.55) < 1e-9);
  assert.equal(rampOf(w, 13_200, p), 1);
});

test('no more than maxEjected of the servers are out at once', () => {
  const w = newServerWatch();
  for (let i = 0; i < 3; i++) observe(w, 5, false, 0, p);
  assert.equal(maybeEject(w, 0, p, 1, 2, 0.5), false, 'one of two is out already');
  assert.equal(maybeEject(w, 0, p, 0, 1, 0.5), false, 'a sole server is never ejected');
  assert.equal(maybeEject(w, 0, p, 0, 2, 0.5), true);
});

test('the cost is in-flight times latency for the ramped capacity; an unmeasured server takes the typical latency', () => {
  const w = newServerWatch();
  assert.equal(costOf(w, 3, 2, 0, p, 20), (4 * 20) / 2);
  observe(w, 50, true, 0, p);
  assert.equal(costOf(w, 0, 1, 0, p, 20), 50);
  w.rampFrom = 0;
  assert.ok(
    Math.abs(costOf(w, 0, 1, 0, p, 20) - 500) < 1e-9,
    'a tenth of its capacity at the start of its ramp',
  );
});
