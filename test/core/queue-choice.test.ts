import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expectedDelay, SentSince, type ServerQueue } from '../../src/core/queue-choice.js';
import { seededRandom } from '../../src/core/random.js';
import { DEFAULT_REFERRAL_PARAMS } from '../../src/core/referrals.js';
import { ServerPool } from '../../src/core/server-pool.js';

const params = { obsolescence: 3000, referral: DEFAULT_REFERRAL_PARAMS, choice: 'queue' as const };
const idle = (slots: number, measuredAt = 0, serviceTime = 20): ServerQueue => ({
  queueLength: 0,
  busy: 0,
  slots,
  serviceTime,
  requests: 100,
  measuredAt,
});

test('expected delay: waiting, busy and own referrals (times the doors), plus the new one, over slots, times service time', () => {
  const q = { queueLength: 3, busy: 4, slots: 4, serviceTime: 20, measuredAt: 0 };
  assert.equal(expectedDelay(q, 1, 1, 20), 45); // (3 + 4 + 1 + 1) / 4 x 20
  assert.equal(expectedDelay(q, 1, 8, 20), 80); // one referral from one of eight doors stands for eight
  assert.equal(expectedDelay({ ...q, slots: 0 }, 0, 1, 10), 80); // slots below one count as one
});

test('a referral made within a round trip before the figures counts for the share of it still to go', () => {
  const s = new SentSince();
  for (const t of [0, 50, 80, 90, 120]) s.add(t);
  s.measured(100, 40); // 0 and 50 have arrived; 80 counts 0.5, 90 counts 0.75; 120 is after
  assert.equal(s.count, 0.5 + 0.75 + 1);
  s.add(130);
  assert.equal(s.count, 0.5 + 0.75 + 2);
  s.measured(200, 40); // all of them had time to arrive
  assert.equal(s.count, 0);
});

test('referrals are counted only until figures measured after them arrive, even when those arrive late', () => {
  const s = new SentSince();
  for (const t of [10, 20, 30, 40]) s.add(t);
  assert.equal(s.count, 4);
  s.measured(25); // figures measured at 25 include the referrals at 10 and 20
  assert.equal(s.count, 2);
  s.measured(15); // older figures change nothing
  assert.equal(s.count, 2);
  s.add(50);
  s.measured(45);
  assert.equal(s.count, 1);
});

test('the queue choice sends each request where it would wait least, counting its own referrals', () => {
  const pool = new ServerPool(
    [2, 8].map(() => ({ C: 1000, https: false })),
    params,
    0,
  );
  pool.setQueue(0, idle(2));
  pool.setQueue(1, { ...idle(8), busy: 8, queueLength: 4 });
  const rand = seededRandom(1);
  // Server 1's delay is (12 + 1) / 8 x 20 = 32.5; server 0 takes requests while its
  // (n + 1) / 2 x 20 stays below: n = 0, 1, 2 give 10, 20, 30; at n = 3 it is 40.
  const picks = Array.from({ length: 5 }, () => pool.pick(1, rand, {}));
  assert.deepEqual(picks, [0, 0, 0, 1, 1]);
  // New figures measured after those referrals replace the count.
  pool.setQueue(0, { ...idle(2, 2), busy: 2, queueLength: 6 });
  pool.setQueue(1, idle(8, 2));
  assert.equal(pool.pick(3, rand, {}), 1);
});

test('a slow server counts as slow before its queue builds; ties go at random', () => {
  const pool = new ServerPool(
    [4, 4].map(() => ({ C: 1000, https: false })),
    params,
    0,
  );
  pool.setQueue(0, idle(4, 0, 80));
  pool.setQueue(1, idle(4, 0, 20));
  const rand = seededRandom(2);
  const counts = [0, 0];
  for (let i = 0; i < 40; i++) counts[pool.pick(1, rand, {})]!++;
  // 0's delay starts at 20 and grows by 20 a referral; 1's starts at 5 and grows by 5.
  assert.ok(counts[1]! >= 4 * counts[0]! - 4, `counts ${counts}`);
  const first = new Set<number>();
  for (let seed = 1; seed <= 20; seed++) {
    const p = new ServerPool(
      [4, 4].map(() => ({ C: 1000, https: false })),
      params,
      0,
    );
    p.setQueue(0, idle(4));
    p.setQueue(1, idle(4));
    first.add(p.pick(1, seededRandom(seed), {}));
  }
  assert.deepEqual([...first].sort(), [0, 1]);
});

test('without fresh figures for every candidate the interval choice decides; exclude and availability hold', () => {
  const pool = new ServerPool(
    [1000, 1000, 1000].map((C) => ({ C, https: false })),
    params,
    0,
  );
  pool.setQueue(0, idle(4));
  pool.setQueue(1, { ...idle(4), busy: 4, queueLength: 100 });
  const rand = seededRandom(3);
  // Server 2 has no figures: every server gets a share of the interval choice.
  const counts = [0, 0, 0];
  for (let i = 0; i < 300; i++) counts[pool.pick(i, rand, {})]!++;
  assert.ok(
    counts.every((c) => c > 50),
    `counts ${counts}`,
  );
  pool.setQueue(2, { ...idle(4, 400), busy: 4, queueLength: 100 });
  pool.setQueue(0, idle(4, 400));
  pool.setQueue(1, { ...idle(4, 400), busy: 4, queueLength: 100 });
  assert.equal(pool.pick(401, rand, {}), 0);
  assert.notEqual(pool.pick(401, rand, { exclude: 0 }), 0);
  pool.setAvailable(0, false, 401);
  assert.notEqual(pool.pick(402, rand, {}), 0);
  // Figures older than T (3 s) are not trusted: the interval choice again.
  pool.setAvailable(0, true, 5000);
  const late = [0, 0, 0];
  for (let i = 0; i < 300; i++) late[pool.pick(5000 + i, rand, {})]!++;
  assert.ok(
    late.every((c) => c > 50),
    `late ${late}`,
  );
});

test('with several doors each scales its own referrals by their number', () => {
  const make = () => {
    const p = new ServerPool(
      [4, 4].map(() => ({ C: 1000, https: false })),
      params,
      0,
    );
    p.setQueue(0, idle(4));
    p.setQueue(1, { ...idle(4), busy: 2 });
    return p;
  };
  const one = make();
  const eight = make();
  eight.setDoors(8);
  const rand = seededRandom(4);
  // One door: server 0 takes two referrals before it looks as loaded as server 1.
  assert.deepEqual([one.pick(1, rand, {}), one.pick(1, rand, {})], [0, 0]);
  // Eight doors: after one referral server 0 counts as having eight more.
  assert.equal(eight.pick(1, rand, {}), 0);
  assert.equal(eight.pick(1, rand, {}), 1);
});

test('a server that looked slow and now sits empty is tried again within about a second, not starved', () => {
  const pool = new ServerPool(
    [0, 1, 2, 3].map(() => ({ C: 1000, https: false })),
    params,
    0,
  );
  const rand = seededRandom(4);
  const report = (t: number, slowOne: Partial<ServerQueue>) => {
    for (let i = 0; i < 3; i++) pool.setQueue(i, { ...idle(4, t), busy: 3, requests: 4 });
    pool.setQueue(3, { ...idle(4, t), requests: 0, ...slowOne });
  };
  // Every request it had timed out after 2 s: it looks 100 times slower than the rest.
  report(0, { serviceTime: 2000, requests: 8 });
  let firstPick = -1;
  for (let t = 25; t <= 3000 && firstPick < 0; t += 25) {
    report(t, {});
    for (let k = 0; k < 3; k++) if (pool.pick(t, rand, {}) === 3) firstPick = t;
  }
  assert.ok(firstPick > 0 && firstPick <= 1500, `first tried at ${firstPick} ms`);
  // Still hung, every request it gets stays in it: it is tried less and less, never flooded.
  let stuck = 1;
  for (let t = firstPick + 25; t <= firstPick + 2000; t += 25) {
    report(t, { busy: stuck });
    for (let k = 0; k < 3; k++) if (pool.pick(t, rand, {}) === 3) stuck++;
  }
  assert.ok(stuck <= 3, `${stuck} requests stuck in it after 2 s`);
});

test('with a client round trip, a referral counts until figures measured that long after it arrive', () => {
  const pool = new ServerPool(
    [0, 1].map(() => ({ C: 1000, https: false })),
    { ...params, roundTrip: 40 },
    0,
  );
  const rand = seededRandom(2);
  pool.setQueue(0, idle(4, 0));
  pool.setQueue(1, { ...idle(4, 0), busy: 1 });
  // Server 0: (0 + n + 1) / 4 x 20 against server 1's (1 + 1) / 4 x 20: it takes two.
  assert.deepEqual(
    [10, 20].map((t) => pool.pick(t, rand, {})),
    [0, 0],
  );
  // Figures measured at 30 may not show them: a browser takes up to 40 ms, so the one made
  // at 10 counts a half and the one at 20 three quarters; (1.25 + 1) / 4 is more than server
  // 1's (1 + 1) / 4, and the next goes to server 1.
  pool.setQueue(0, idle(4, 30));
  pool.setQueue(1, { ...idle(4, 30), busy: 1 });
  assert.equal(pool.pick(31, rand, {}), 1);
  // Figures measured at 100 may hold every referral made by 60: they go. Server 0 (0 + 1) / 4
  // beats server 1 (2 + 1) / 4.
  pool.setQueue(0, idle(4, 100));
  pool.setQueue(1, { ...idle(4, 100), busy: 2 });
  assert.equal(pool.pick(101, rand, {}), 0);
});

test('a pool that measures the round trip learns it from its servers figures and counts over it', () => {
  const pool = new ServerPool(
    [0, 1].map(() => ({ C: 1000, https: false })),
    { ...params, roundTrip: 80, measureRoundTrip: true },
    0,
  );
  assert.equal(pool.clientRoundTrip, 80);
  const rand = seededRandom(9);
  // Browsers arrive at once: each interval's figures show exactly the referrals made in it
  // arriving (and as many finishing), on top of what was there.
  const inIt = [0, 0];
  for (let k = 1; k <= 600; k++) {
    const got = [0, 0];
    const n = 1 + Math.floor(rand() * 8);
    for (let j = 0; j < n; j++) {
      const i = pool.pick(25 * k - 20 + j, rand, {});
      got[i]!++;
    }
    for (const i of [0, 1]) {
      inIt[i] = got[i]!;
      pool.setQueue(i, {
        queueLength: 0,
        busy: inIt[i]!,
        slots: 16,
        serviceTime: 20,
        requests: 0,
        measuredAt: 25 * k,
      });
    }
  }
  assert.equal(pool.clientRoundTrip, 0);
});
