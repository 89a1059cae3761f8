import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/core/random.js';
import { countAt, DEFAULT_REFERRAL_PARAMS, referralFactor } from '../../src/core/referrals.js';
import { ServerPool } from '../../src/core/server-pool.js';

const params = { obsolescence: 20 * 60_000, referral: DEFAULT_REFERRAL_PARAMS };

function shares(pool: ServerPool, picks: number, rate: number, seed: number, opts = {}): number[] {
  const rand = seededRandom(seed);
  const counts = new Array(pool.size).fill(0);
  let now = 0;
  for (let i = 0; i < picks; i++) {
    now += 1000 / rate;
    const k = pool.pick(now, rand, opts);
    if (k >= 0) counts[k]++;
  }
  return counts.map((c) => c / picks);
}

test('referrals decay with the half-life; the factor is centred on the share and clamped', () => {
  assert.equal(countAt({ value: 8, at: 0 }, 1000, 1000), 4);
  assert.equal(countAt({ value: 8, at: 0 }, 3000, 1000), 1);
  assert.equal(referralFactor(10, 10, 2000, DEFAULT_REFERRAL_PARAMS), 1);
  assert.equal(referralFactor(14, 10, 2000, DEFAULT_REFERRAL_PARAMS), 0.5);
  assert.equal(referralFactor(6, 10, 2000, DEFAULT_REFERRAL_PARAMS), 1.5);
  assert.equal(referralFactor(1e12, 0, 2000, DEFAULT_REFERRAL_PARAMS), 0.1);
  assert.equal(referralFactor(0, 1e12, 2000, DEFAULT_REFERRAL_PARAMS), 1.9);
});

test('with static capacities, shares follow capacities at any request rate', () => {
  for (const rate of [1, 10, 1000, 100_000]) {
    const pool = new ServerPool(
      [1000, 1000, 2000, 4000].map((C) => ({ C, https: false })),
      params,
      0,
    );
    const got = shares(pool, 60_000, rate, rate);
    const want = [0.125, 0.125, 0.25, 0.5];
    got.forEach((g, i) => {
      assert.ok(Math.abs(g - want[i]!) < 0.006, `rate ${rate} server ${i}: ${g}`);
    });
  }
});

test('a burst is spread: the same server is not picked many times running', () => {
  const pool = new ServerPool(
    [
      { C: 5000, https: false },
      { C: 5000, https: false },
    ],
    params,
    0,
  );
  // Without the adjustment, 400 fair coin flips almost surely hold a run of 8 or more.
  const rand = seededRandom(3);
  let longest = 0;
  let run = 0;
  let last = -1;
  for (let i = 0; i < 400; i++) {
    const k = pool.pick(0, rand, {}); // all at the same instant: no decay
    run = k === last ? run + 1 : 1;
    last = k;
    longest = Math.max(longest, run);
  }
  assert.ok(longest < 8, `longest run ${longest}`);
});

test('unavailable servers are never picked; none available gives -1', () => {
  const pool = new ServerPool(
    [
      { C: 1000, https: false },
      { C: 9000, https: false },
    ],
    params,
    0,
  );
  pool.setAvailable(1, false, 0);
  const rand = seededRandom(5);
  for (let i = 0; i < 500; i++) assert.equal(pool.pick(i, rand, {}), 0);
  pool.setAvailable(0, false, 500);
  assert.equal(pool.pick(600, rand, {}), -1);
});

test('secureOnly picks only https servers; prefer and exclude are honoured', () => {
  const pool = new ServerPool(
    [
      { C: 9000, https: false },
      { C: 1000, https: true },
      { C: 1000, https: true },
    ],
    params,
    0,
  );
  const rand = seededRandom(9);
  for (let i = 0; i < 300; i++) assert.notEqual(pool.pick(i, rand, { secureOnly: true }), 0);
  for (let i = 0; i < 50; i++) assert.equal(pool.pick(i, rand, { prefer: 2 }), 2);
  for (let i = 0; i < 300; i++) assert.notEqual(pool.pick(i, rand, { exclude: 0 }), 0);
  // A preferred server that cannot serve is ignored.
  pool.setAvailable(2, false, 0);
  for (let i = 0; i < 50; i++) assert.notEqual(pool.pick(i, rand, { prefer: 2 }), 2);
  assert.equal(pool.pick(0, rand, { secureOnly: true, exclude: 1 }), -1);
});

test('dynamic values steer the choice and fade to capacity after T', () => {
  const pool = new ServerPool(
    [
      { C: 5000, https: false },
      { C: 5000, https: false },
    ],
    params,
    0,
  );
  pool.setDynamic(0, { value: 500, measuredAt: 0 }, 0);
  assert.equal(pool.breakdown(0, 0).LM, 500);
  assert.equal(pool.breakdown(0, 10 * 60_000).LM, 2750);
  assert.equal(pool.breakdown(0, 20 * 60_000).LM, 5000);
});

test('the medians of the service estimates are those of sorting the other members, as estimates change (issue 29)', () => {
  // Read from the ordered estimates kept as they change; checked against sorting them.
  const n = 31;
  const pool = new ServerPool(
    Array.from({ length: n }, () => ({ C: 1000, https: false })),
    { ...params, choice: 'queue' as const },
    0,
  );
  const inside = pool as unknown as {
    members: Array<{ service: { value: number } }>;
    medianService(skip: number): number;
  };
  const sorted = (skip: number) => {
    const v = inside.members.filter((m, j) => j !== skip && m.service.value > 0).map((m) => m.service.value);
    v.sort((a, b) => a - b);
    if (v.length === 0) return 0;
    const h = v.length >> 1;
    return v.length % 2 === 1 ? v[h]! : (v[h - 1]! + v[h]!) / 2;
  };
  const rand = seededRandom(3);
  for (let t = 1; t <= 3000; t++) {
    const i = Math.floor(rand() * n);
    const finished = rand() < 0.6;
    pool.setQueue(i, {
      queueLength: 0,
      busy: rand() < 0.5 ? 0 : 2,
      slots: 4,
      // Few distinct values, so ties are common.
      serviceTime: finished ? 10 + Math.floor(rand() * 4) * 5 : 0,
      requests: finished ? 1 + Math.floor(rand() * 3) : 0,
      measuredAt: t,
    });
    if (t % 7 === 0 || t < 40)
      for (let skip = -1; skip < n; skip++)
        assert.equal(inside.medianService(skip), sorted(skip), `t=${t} skip=${skip}`);
  }
});
