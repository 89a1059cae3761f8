import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/core/random.js';
import {
  MAX_BACKOFF,
  newServiceEstimate,
  RELAX_HALF_LIFE,
  type ServiceEstimate,
  STALL_GRACE,
  STALL_HALF_LIFE,
  serviceFor,
  updateService,
} from '../../src/core/service-estimate.js';
import { normal } from '../../src/lab/sim/sim-server.js';

const busy = { free: 0 };

/** Feeds `intervals` intervals of `n` requests each, drawn by `draw`, every 25 ms from `t`. */
function feed(e: ServiceEstimate, t: number, intervals: number, n: number, draw: () => number): number {
  for (let k = 0; k < intervals; k++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += draw();
    t += 25;
    updateService(e, { mean: sum / n, n, ...busy }, t, 20);
  }
  return t;
}

test('the first figures are taken as they are; an interval with nothing finished and no free slot changes nothing', () => {
  const e = newServiceEstimate();
  updateService(e, { mean: 35, n: 3, free: 0.5 }, 0, 20);
  assert.equal(e.value, 35);
  updateService(e, { mean: 0, n: 0, free: 0 }, 5000, 20);
  assert.equal(e.value, 35);
});

test('long-tailed service: the estimate strays half as far as a 30-request mean does', () => {
  // Lognormal, sigma 1.5, mean 20: one request's coefficient of variation is about 2.9.
  const r = seededRandom(3);
  const mu = Math.log(20) - 1.5 ** 2 / 2;
  const e = newServiceEstimate();
  let short = 20;
  let sq = 0;
  let sqShort = 0;
  const N = 4000;
  for (let k = 0; k < 400 + N; k++) {
    let sum = 0;
    for (let i = 0; i < 4; i++) sum += Math.exp(mu + 1.5 * normal(r));
    updateService(e, { mean: sum / 4, n: 4, ...busy }, 25 * k, 20);
    short += ((sum / 4 - short) * 4) / 34; // the estimate before issue 27
    if (k < 400) continue;
    sq += (e.value / 20 - 1) ** 2;
    sqShort += (short / 20 - 1) ** 2;
  }
  const rms = Math.sqrt(sq / N);
  const rmsShort = Math.sqrt(sqShort / N);
  assert.ok(rms < 0.5 * rmsShort && rms < 0.25, `rms ${rms.toFixed(3)} against ${rmsShort.toFixed(3)}`);
});

test('a real change shows within a few dozen requests, both ways (exponential service)', () => {
  const r = seededRandom(5);
  const expo = (mean: number) => () => -Math.log(1 - r()) * mean;
  const e = newServiceEstimate();
  let t = feed(e, 0, 200, 4, expo(20));
  assert.ok(Math.abs(e.value - 20) < 4, `settled at ${e.value}`);
  // Four times slower: 60 requests later (15 intervals of 4) it reads at least 45.
  t = feed(e, t, 15, 4, expo(80));
  assert.ok(e.value > 45, `after slowing ${e.value}`);
  t = feed(e, t, 40, 4, expo(80));
  // And back: 60 requests later it is below 35.
  t = feed(e, t, 15, 4, expo(20));
  assert.ok(e.value < 35, `after recovering ${e.value}`);
});

test('a server that looked slow and gets nothing relaxes towards the reference on the fake clock', () => {
  const e = newServiceEstimate();
  updateService(e, { mean: 2000, n: 30, ...busy }, 0, 20); // every request timed out
  assert.equal(e.value, 2000);
  // Free and empty: each half-life halves the distance to 20 in log terms (100x -> 10x -> ...).
  updateService(e, { mean: 0, n: 0, free: 1 }, RELAX_HALF_LIFE, 20);
  assert.ok(Math.abs(e.value - 200) < 1e-6, `${e.value}`);
  for (let t = 2 * RELAX_HALF_LIFE; t <= 8 * RELAX_HALF_LIFE; t += 25)
    updateService(e, { mean: 0, n: 0, free: 1 }, t, 20);
  assert.ok(e.value < 21, `${e.value}`);
  // Its first completions count for as much as all it did before.
  updateService(e, { mean: 20, n: 2, free: 1 }, 9 * RELAX_HALF_LIFE, 20);
  assert.ok(e.value < 21);
});

test('relaxing slows with the share of busy slots, and a link outage is not relaxing time', () => {
  const half = newServiceEstimate();
  const full = newServiceEstimate();
  for (const e of [half, full]) updateService(e, { mean: 320, n: 30, ...busy }, 0, 20);
  updateService(half, { mean: 0, n: 0, free: 0.5 }, 2 * RELAX_HALF_LIFE, 20); // one half-life's worth
  updateService(full, { mean: 0, n: 0, free: 0 }, 2 * RELAX_HALF_LIFE, 20); // every slot held: none
  assert.ok(Math.abs(half.value - 80) < 1e-6, `${half.value}`);
  assert.equal(full.value, 320);
  const gap = newServiceEstimate();
  updateService(gap, { mean: 320, n: 30, ...busy }, 0, 20);
  updateService(gap, { mean: 0, n: 0, free: 1 }, 60_000, 20); // a minute without figures counts as one second
  assert.ok(gap.value > 20 * 16 ** (2 ** (-1000 / RELAX_HALF_LIFE)) - 1e-6);
});

test('no reference known: nothing to relax towards', () => {
  const e = newServiceEstimate();
  updateService(e, { mean: 400, n: 10, ...busy }, 0, 0);
  updateService(e, { mean: 0, n: 0, free: 1 }, 10_000, 0);
  assert.equal(e.value, 400);
});

test('a server whose busy slots finish nothing counts as slower as the stall goes on (issue 27: a hung server)', () => {
  const e = newServiceEstimate();
  updateService(e, { mean: 20, n: 10, ...busy }, 0, 20);
  // Busy, nothing finished: within the grace (two estimates) the choice still reads 20 ms.
  for (let t = 10; t <= 40; t += 10) updateService(e, { mean: 0, n: 0, free: 0 }, t, 20);
  assert.equal(serviceFor(e), 20);
  assert.equal(e.value, 20, 'the mean itself is not moved by a stall');
  // A second of it: about a second, less the grace.
  for (let t = 50; t <= 1000; t += 10) updateService(e, { mean: 0, n: 0, free: 0 }, t, 20);
  assert.ok(Math.abs(serviceFor(e) - (1000 - STALL_GRACE * 20)) < 1e-6, `${serviceFor(e)}`);
  // One slot of two held (a trial stuck, the other free) still stalls.
  updateService(e, { mean: 0, n: 0, free: 0.5 }, 1100, 20);
  assert.ok(serviceFor(e) > 1000);
  // Its requests left unfinished (timed out), the server idle: forgotten with a half-life.
  updateService(e, { mean: 0, n: 0, free: 1 }, 1100 + STALL_HALF_LIFE, 20);
  assert.ok(Math.abs(e.stall - 550) < 1e-6, `${e.stall}`);
  // A completion clears it at once: a recovered server is not held back.
  updateService(e, { mean: 22, n: 3, free: 1 }, 2200, 20);
  assert.equal(e.stall, 0);
  assert.equal(serviceFor(e), e.value);
});

test('each stuck trial keeps a hung server out longer: the stall is forgotten only while it is idle', () => {
  const e = newServiceEstimate();
  updateService(e, { mean: 20, n: 10, ...busy }, 0, 20);
  let t = 0;
  const stuck = (ms: number) => {
    for (const end = t + ms; t < end; t += 10) updateService(e, { mean: 0, n: 0, free: 0 }, t + 10, 20);
  };
  const idle = (ms: number) => {
    for (const end = t + ms; t < end; t += 10) updateService(e, { mean: 0, n: 0, free: 1 }, t + 10, 20);
  };
  stuck(500);
  idle(500);
  const afterOne = e.stall;
  stuck(500);
  idle(500);
  assert.ok(e.stall > afterOne * 1.5, `${afterOne} then ${e.stall}`);
});

test('a failed trial slows the next relaxation; one good trial ends the back-off (issue 27)', () => {
  const e = newServiceEstimate();
  updateService(e, { mean: 2000, n: 4, ...busy }, 0, 20); // its requests timed out
  let t = 0;
  const relaxFor = (ms: number) => {
    for (const end = t + ms; t < end; t += 25) updateService(e, { mean: 0, n: 0, free: 1 }, t + 25, 20);
  };
  relaxFor(1000);
  const firstRelax = e.value;
  assert.ok(firstRelax < 60, `${firstRelax}`);
  // Tried: it timed out again, far above what it relaxed to.
  t += 25;
  updateService(e, { mean: 2000, n: 2, ...busy }, t, 20);
  assert.equal(e.backoff, 1);
  relaxFor(1000);
  assert.ok(e.value > firstRelax * 1.5, `relaxed to ${e.value} after a failed trial, ${firstRelax} before`);
  for (let k = 0; k < 5; k++) {
    relaxFor(3000);
    t += 25;
    updateService(e, { mean: 2000, n: 2, ...busy }, t, 20);
  }
  assert.equal(e.backoff, MAX_BACKOFF, 'bounded');
  relaxFor(4000);
  // It recovered: its trial is as fast as the others, and relaxing is quick again.
  t += 25;
  updateService(e, { mean: 25, n: 2, free: 1 }, t, 20);
  assert.equal(e.backoff, 0);
});

test("a healthy server's idle moments are not trials: a long request after one does not back it off", () => {
  const e = newServiceEstimate();
  updateService(e, { mean: 20, n: 30, ...busy }, 0, 20);
  updateService(e, { mean: 0, n: 0, free: 1 }, 100, 20);
  updateService(e, { mean: 200, n: 1, free: 0.5 }, 125, 20); // one long-tailed request
  assert.equal(e.backoff, 0);
});
