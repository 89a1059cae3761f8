// How one pick's cost grows with the number of servers. The interval choice is a Fenwick
// tree and the referral factor is applied by rejection, so a pick should cost O(log n):
// the ratio of cost at 100,000 servers to cost at 10 should stay near
// log2(100,000) / log2(10) = 5, and far below the 10,000 a linear scan would give.
//
// Usage: npm run bench:pick            (builds first)
//        node bench/pick.mjs [--json]  (uses dist/ as it is)
import { ServerPool, seededRandom } from '../dist/core/index.js';

const SIZES = [10, 1_000, 100_000];
const PARAMS = { obsolescence: 1_200_000, referral: { halfLife: 1000, perUnit: 4 } };
/** Simulated time between picks, ms: 100,000 picks a second. */
const STEP_MS = 0.01;
const WARMUP_PICKS = 200_000;
/** Each size is measured until either bound is reached. */
const MAX_PICKS = 2_000_000;
const MAX_MS = 2000;
/** Picks between clock readings, so reading the clock costs nothing measurable. */
const BATCH = 10_000;

const json = process.argv.includes('--json');

function measure(n) {
  const setup = seededRandom(n);
  const members = Array.from({ length: n }, () => ({
    C: (1 + Math.floor(setup() * 10)) * 1000,
    https: false,
  }));
  const pool = new ServerPool(members, PARAMS, 0);
  const random = seededRandom(n + 1);
  let now = 0;
  // A result that depends on every pick, so no pick can be optimised away.
  let check = 0;
  for (let i = 0; i < WARMUP_PICKS; i++) {
    now += STEP_MS;
    check += pool.pick(now, random, {});
  }
  let picks = 0;
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  while (picks < MAX_PICKS && elapsedNs < BigInt(MAX_MS) * 1_000_000n) {
    for (let i = 0; i < BATCH; i++) {
      now += STEP_MS;
      check += pool.pick(now, random, {});
    }
    picks += BATCH;
    elapsedNs = process.hrtime.bigint() - start;
  }
  if (check < 0) throw new Error('a pick found no server');
  return { n, picks, ns: Number(elapsedNs) / picks };
}

const results = SIZES.map(measure);
const first = results[0];
const last = results[results.length - 1];
const ratio = last.ns / first.ns;
const logRatio = Math.log2(last.n) / Math.log2(first.n);
const summary = {
  node: process.version,
  results,
  ratio,
  logRatio,
  // Noise makes small sizes look relatively slow or fast; 1.5× the log ratio still rules out
  // anything like linear growth (10,000×).
  withinLogN: ratio <= logRatio * 1.5,
};

if (json) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  console.log('servers      picks   ns/pick');
  for (const r of results) {
    console.log(`${String(r.n).padStart(7)} ${String(r.picks).padStart(10)} ${r.ns.toFixed(1).padStart(9)}`);
  }
  console.log(
    `cost at ${last.n.toLocaleString('en')} / cost at ${first.n}: ${ratio.toFixed(2)}` +
      ` (log2 ratio ${logRatio.toFixed(2)}; linear would be ${(last.n / first.n).toLocaleString('en')})`,
  );
  console.log(summary.withinLogN ? 'grows no faster than log n' : 'grows faster than log n');
}
