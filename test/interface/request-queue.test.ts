import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '../../src/core/random.js';
import { type Admission, RequestQueue, type Ticket } from '../../src/interface/request-queue.js';

const ticket = (a: Admission): Ticket => {
  assert.ok(a.ok, `refused: ${JSON.stringify(a)}`);
  return a.ticket;
};

test('slots fill first, the rest wait in arrival order, and each wait is exact', async () => {
  const clock = manualClock(0);
  const q = new RequestQueue({ slots: 2, maxWaiting: 10, timeout: 0 }, clock.now);
  const a = ticket(await q.enter());
  const b = ticket(await q.enter());
  const order: string[] = [];
  const c = q.enter().then((x) => {
    order.push('c');
    return ticket(x);
  });
  const d = q.enter().then((x) => {
    order.push('d');
    return ticket(x);
  });
  assert.equal(q.length, 2);
  assert.equal(q.inService, 2);
  clock.advance(30);
  q.leave(a, 200);
  const tc = await c;
  assert.equal(tc.started - tc.arrived, 30);
  assert.equal(tc.ahead, 0);
  clock.advance(10);
  q.leave(b, 503);
  const td = await d;
  assert.equal(td.ahead, 1);
  assert.deepEqual(order, ['c', 'd']);
  const f = q.figures();
  // Four started: waits 0, 0, 30, 40; two finished: 30 and 40 ms of service, one a 5xx.
  assert.deepEqual(f, {
    queueLength: 0,
    busy: 2,
    slots: 2,
    queueDelay: 17.5,
    serviceTime: 35,
    requests: 2,
    errors: 1,
    refused: 0,
  });
  assert.equal(q.figures().requests, 0, 'a new interval starts after figures()');
  q.leave(tc, 200);
  q.leave(tc, 200);
  assert.equal(q.inService, 1, 'a double leave frees one slot only');
});

test('a full queue refuses at once; a wait past the time-out is refused', async () => {
  const q = new RequestQueue({ slots: 1, maxWaiting: 1, timeout: 50 }, () => performance.now());
  ticket(await q.enter());
  const waiting = q.enter();
  assert.deepEqual(await q.enter(), { ok: false, reason: 'full', waited: 0 });
  const late = await waiting;
  assert.equal(late.ok, false);
  assert.equal((late as { reason: string }).reason, 'timeout');
  assert.ok((late as { waited: number }).waited >= 45);
  assert.equal(q.length, 0);
  assert.equal(q.figures().refused, 2);
});

test('more slots let waiters in at once; close refuses everyone waiting', async () => {
  const q = new RequestQueue({ slots: 1, maxWaiting: 10, timeout: 0 }, () => 0);
  ticket(await q.enter());
  const w1 = q.enter();
  const w2 = q.enter();
  q.configure({ slots: 2, maxWaiting: 10, timeout: 0 });
  assert.ok((await w1).ok);
  q.close();
  assert.equal((await w2).ok, false);
  assert.equal((await q.enter()).ok, false);
});
