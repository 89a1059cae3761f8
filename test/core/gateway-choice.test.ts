import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type GatewayCandidate, leastCost, leastRequest, RoundRobin } from '../../src/core/gateway-choice.js';
import { seededRandom } from '../../src/core/random.js';
import { RetryBudget } from '../../src/core/retry-budget.js';

const server = (inFlight: number, capacity = 1, available = true): GatewayCandidate => ({
  inFlight,
  capacity,
  available,
});

test('least request takes the less busy of two drawn servers, for its capacity', () => {
  const random = seededRandom(7);
  const counts = [0, 0, 0];
  // Server 0 has 8 in flight, 1 has 2, 2 has 2 but twice the capacity.
  const c = [server(8), server(2), server(2, 2)];
  for (let i = 0; i < 3000; i++) counts[leastRequest(c, random)]!++;
  // 0 wins only when drawn with... never: every pair it is in, the other is less busy.
  assert.equal(counts[0], 0);
  // Between 1 and 2, 2 is less busy for its capacity (1.5 against 3): it wins every pair.
  assert.ok(counts[2]! > counts[1]!, `counts ${counts}`);
  assert.ok(counts[1]! > 0, 'two choices, not the global least: 1 wins when drawn with 0');
});

test('least request leaves out servers not available or already tried, and says when none is left', () => {
  const random = seededRandom(1);
  const c = [server(0, 1, false), server(5), server(9)];
  for (let i = 0; i < 50; i++) assert.notEqual(leastRequest(c, random), 0);
  assert.equal(leastRequest(c, random, new Set([1])), 2);
  assert.equal(leastRequest(c, random, new Set([1, 2])), -1);
  assert.equal(leastRequest([], random), -1);
});

test('least cost looks at every server: the cheapest wins, ties are drawn, and none when none is left', () => {
  const c = [
    { inFlight: 0, capacity: 1, available: true, cost: 30 },
    { inFlight: 0, capacity: 1, available: true, cost: 10 },
    { inFlight: 0, capacity: 1, available: true, cost: 10 },
    { inFlight: 0, capacity: 1, available: false, cost: 1 },
  ];
  const seen = new Set<number>();
  const r = seededRandom(3);
  for (let k = 0; k < 50; k++) seen.add(leastCost(c, r));
  assert.deepEqual([...seen].sort(), [1, 2], 'the two cheapest, both drawn; the unavailable one never');
  assert.equal(leastCost(c, r, new Set([1, 2])), 0);
  assert.equal(leastCost(c, r, new Set([0, 1, 2])), -1);
});

test('round robin gives each server its share of capacity, spread out', () => {
  const rr = new RoundRobin();
  const c = [server(0, 1), server(0, 2), server(0, 1)];
  const seq = Array.from({ length: 8 }, () => rr.pick(c));
  assert.deepEqual(seq, [1, 0, 2, 1, 1, 0, 2, 1]);
  // A server that is out is skipped; the rest share.
  c[1]!.available = false;
  const more = Array.from({ length: 4 }, () => rr.pick(c));
  assert.deepEqual(more.sort(), [0, 0, 2, 2]);
  assert.equal(rr.pick(c, new Set([0, 2])), -1);
});

test('the retry budget allows a share of recent requests, and a floor a second', () => {
  let now = 0;
  const budget = new RetryBudget(0.2, 3, () => now);
  // The floor at start: three retries, then none.
  assert.ok(budget.tryRetry() && budget.tryRetry() && budget.tryRetry());
  assert.equal(budget.tryRetry(), false);
  // Ten requests earn two retries.
  for (let i = 0; i < 10; i++) budget.request();
  assert.ok(budget.tryRetry() && budget.tryRetry());
  assert.equal(budget.tryRetry(), false);
  // A second later, three more from the floor.
  now += 1000;
  assert.ok(budget.tryRetry() && budget.tryRetry() && budget.tryRetry());
  assert.equal(budget.tryRetry(), false);
  // It holds at most the cap, however long it was quiet.
  now += 3_600_000;
  let n = 0;
  while (budget.tryRetry()) n++;
  assert.equal(n, 100);
});
