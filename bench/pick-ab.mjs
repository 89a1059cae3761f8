// A/B: ns per pick, old vs new ServerPool, interval and queue (figures every 25 ms simulated), 10 servers
// node bench/pick-ab.mjs OLD_DIST: this build's dist/ against another's, in one process, rounds alternating.
import { join } from 'node:path';

const old = process.argv[2];
if (!old) {
  console.error("usage: node bench/pick-ab.mjs <another build's dist/ folder>");
  process.exit(2);
}
const dists = { new: join(import.meta.dirname, '../dist'), old };
const mods = {};
for (const [k, d] of Object.entries(dists))
  mods[k] = { ...(await import(`${d}/core/server-pool.js`)), ...(await import(`${d}/core/random.js`)) };
function run(m, choice) {
  const params = {
    obsolescence: 3000,
    referral: { halfLife: 1000, perUnit: 4 },
    choice,
    roundTrip: 80,
    measureRoundTrip: true,
  };
  const pool = new m.ServerPool(
    Array.from({ length: 10 }, (_, i) => ({ C: (i + 1) * 1000, https: false })),
    params,
    0,
  );
  const r = m.seededRandom(3);
  let now = 0,
    next = 0,
    sum = 0;
  const N = 1_500_000;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < N; k++) {
    now += 0.03; // 33k picks a second
    if (choice === 'queue' && now >= next) {
      next += 25;
      for (let i = 0; i < 10; i++)
        pool.setQueue(i, {
          queueLength: Math.floor(r() * 3),
          busy: Math.floor(r() * (2 * i + 3)),
          slots: 2 * i + 2,
          serviceTime: 15 + r() * 10,
          requests: 5 + Math.floor(r() * 10),
          measuredAt: now - 1,
        });
    }
    sum += pool.pick(now, r, {});
  }
  return Number(process.hrtime.bigint() - t0) / N + sum * 0;
}
const res = { new: { interval: [], queue: [] }, old: { interval: [], queue: [] } };
for (let round = 0; round < 8; round++)
  for (const k of round % 2 ? ['old', 'new'] : ['new', 'old'])
    for (const c of ['interval', 'queue']) res[k][c].push(run(mods[k], c));
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const c of ['interval', 'queue'])
  console.log(
    c,
    'ns/pick new',
    med(res.new[c]).toFixed(0),
    'old',
    med(res.old[c]).toFixed(0),
    'ratio new/old',
    (med(res.new[c]) / med(res.old[c])).toFixed(3),
  );
