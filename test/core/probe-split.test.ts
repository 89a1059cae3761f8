import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  makeProbeId,
  PROBE_PARAM,
  probeIdOf,
  probeUrl,
  requestEnd,
  splitProbe,
} from '../../src/core/probe-split.js';
import { seededRandom } from '../../src/core/random.js';

test('document 002 FIG. 4A: one slot, five requests in front of the probe, all counted', () => {
  // Request 1 is being served when the probe (request 6) arrives at 1000; 2 to 5 wait.
  const others = [
    { start: 940, queueWait: 0, serviceTime: 80 }, // served 940..1020
    { start: 950, queueWait: 70, serviceTime: 20 }, // waits until 1020
    { start: 960, queueWait: 80, serviceTime: 20 },
    { start: 970, queueWait: 90, serviceTime: 20 },
    { start: 990, queueWait: 90, serviceTime: 20 },
  ];
  const s = splitProbe({ start: 1000, queueWait: 100, serviceTime: 20 }, 125, others);
  assert.deepEqual(s, { queueDelay: 100, serviceTime: 20, transit: 5, ahead: 4, inService: 1 });
  assert.equal(s.ahead + s.inService, 5);
});

test('FIG. 5: the response time splits into the wait, the service and the rest', () => {
  assert.deepEqual(splitProbe({ start: 0, queueWait: 30, serviceTime: 12.5 }, 45, []), {
    queueDelay: 30,
    serviceTime: 12.5,
    transit: 2.5,
    ahead: 0,
    inService: 0,
  });
  // Clocks that disagree by a fraction of a millisecond never give a negative rest.
  assert.equal(splitProbe({ start: 0, queueWait: 30, serviceTime: 12.5 }, 42, []).transit, 0);
});

test('what is not ahead: later arrivals, finished requests, refusals and redirects', () => {
  const probe = { start: 1000, queueWait: 40, serviceTime: 10 };
  const cases: Array<[string, { start: number; queueWait: number; serviceTime: number }, string]> = [
    ['waiting when the probe came', { start: 990, queueWait: 30, serviceTime: 20 }, 'ahead'],
    ['same millisecond, waiting', { start: 1000, queueWait: 5, serviceTime: 5 }, 'ahead'],
    ['got its slot at the very moment', { start: 990, queueWait: 10, serviceTime: 20 }, 'inService'],
    ['being served', { start: 900, queueWait: 50, serviceTime: 100 }, 'inService'],
    ['finished just as the probe came', { start: 900, queueWait: 50, serviceTime: 50 }, 'neither'],
    ['finished long before', { start: 100, queueWait: 0, serviceTime: 5 }, 'neither'],
    ['arrived after the probe', { start: 1001, queueWait: 0, serviceTime: 1 }, 'neither'],
    ['refused at once (queue full)', { start: 1000, queueWait: 0, serviceTime: 0 }, 'neither'],
    ['redirected', { start: 995, queueWait: 0, serviceTime: 0 }, 'neither'],
    ['waited, then timed out', { start: 980, queueWait: 500, serviceTime: 0 }, 'ahead'],
  ];
  for (const [what, r, expected] of cases) {
    const s = splitProbe(probe, 60, [r]);
    const got = s.ahead === 1 ? 'ahead' : s.inService === 1 ? 'inService' : 'neither';
    assert.equal(got, expected, what);
  }
});

test('a server with several slots: counted by the times, not by the order of the reports', () => {
  // Two slots. A short request that came after the probe finishes before it and is not
  // counted; a long one that was being served finishes after it and is.
  const probe = { start: 1000, queueWait: 20, serviceTime: 10 };
  const others = [
    { start: 1002, queueWait: 0, serviceTime: 3 }, // came after, done at 1005
    { start: 900, queueWait: 0, serviceTime: 500 }, // in service until 1400
    { start: 995, queueWait: 25, serviceTime: 10 }, // waiting until 1020
  ];
  assert.deepEqual(splitProbe(probe, 31, others), {
    queueDelay: 20,
    serviceTime: 10,
    transit: 1,
    ahead: 1,
    inService: 1,
  });
});

test('probe URLs keep the base path and any query, and the id comes back out of the record', () => {
  assert.equal(probeUrl('http://h:81', '/', 'abc'), 'http://h:81/?sy_probe=abc');
  assert.equal(probeUrl('http://h:81/app/', 'status', 'abc'), 'http://h:81/app/status?sy_probe=abc');
  assert.equal(probeUrl('http://h:81//', '/s?full=1#top', 'abc'), 'http://h:81/s?full=1&sy_probe=abc');
  assert.equal(probeUrl('http://h', '/s?', 'a b'), 'http://h/s?sy_probe=a%20b');
  assert.equal(probeUrl('http://h', '', 'x'), 'http://h/?sy_probe=x');

  assert.equal(probeIdOf('sy_probe=abc'), 'abc');
  assert.equal(probeIdOf('full=1&sy_probe=a%20b&z'), 'a b');
  assert.equal(probeIdOf('x_sy_probe=abc'), undefined);
  assert.equal(probeIdOf('sy_probe'), undefined);
  assert.equal(probeIdOf('sy_probe=%E0%A4%A'), undefined);
  assert.equal(probeIdOf(undefined), undefined);
  assert.equal(probeIdOf(new URL(probeUrl('http://h', '/p?q=1', 'k9')).search.slice(1)), 'k9');
  assert.equal(PROBE_PARAM, 'sy_probe');
});

test('probe ids: twelve base-36 characters, repeatable from a seed, distinct in practice', () => {
  const a = makeProbeId(seededRandom(3));
  assert.match(a, /^[0-9a-z]{12}$/);
  assert.equal(makeProbeId(seededRandom(3)), a);
  assert.equal(
    makeProbeId(() => 0),
    '000000000000',
  );
  assert.match(
    makeProbeId(() => 0.999999999),
    /^[0-9a-z]{12}$/,
  );
  const r = seededRandom(9);
  const ids = new Set(Array.from({ length: 10_000 }, () => makeProbeId(r)));
  assert.equal(ids.size, 10_000);
});

test('a request ends when its wait and its service are over', () => {
  assert.equal(requestEnd({ start: 1000, queueWait: 12.5, serviceTime: 7.5 }), 1020);
});
