// The balancing lab's load generator (issue 8): open loop. Requests start on a Poisson
// schedule at the scenario's rate whatever the answers do, and each latency is timed from
// the request's intended start, so a stalled contender cannot hide its stall (no coordinated
// omission). Redirects are followed as a browser follows them, hop included, but only to a
// configured server. One time-out for every contender. Bypass traffic goes straight to its
// server and is recorded apart. In session mode a user's follow-ups go where the browser
// is after its first answer: the door of a proxy, the server a redirect named.
//
// node bench/lab/loadgen.mjs --scenario FILE --start EPOCH_MS --doors URL,.. --servers URL,.. --out FILE
// Writes the run's records (the shape src/lab/summary.ts reads) and its own event-loop lag.
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { doorShares, loadScenario, offeredRate, pickDoor, sessionRate } from '../../dist/lab/scenario.js';
import { addRequest, ERROR, newRecords, OK, TIMEOUT } from '../../dist/lab/summary.js';

const { values: a } = parseArgs({
  options: {
    scenario: { type: 'string' },
    start: { type: 'string' },
    doors: { type: 'string' },
    servers: { type: 'string' },
    out: { type: 'string' },
    'no-tail': { type: 'boolean', default: false },
  },
});
const s = loadScenario(a.scenario);
const doors = a.doors.split(',');
const servers = a.servers.split(',');
const names = s.servers.map((x) => x.name);
/** Where a redirect may send the browser: a lab server, or a door (a server sending it back). */
const allowed = new Set([...servers, ...doors].map((u) => new URL(u).origin));
const startWall = Number(a.start);
// Times below are ms from the measured run's start on the monotonic clock.
const zero = performance.now() + (startWall - Date.now());
const now = () => performance.now() - zero;

const d = s.addedDelay;
const shares = doorShares(s);
const bypassTo = s.bypass ? names.indexOf(s.bypass.server) : -1;
const dispatcher = new Agent({ connections: 2048, pipelining: 1, keepAliveTimeout: 60_000 });
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

const rec = { ...newRecords(s.duration, names), late: 0, sent: 0, badRedirects: 0 };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One round trip: GET url, read the answer whole. */
async function roundTrip(url, signal) {
  if (d > 0) await sleep(d);
  const res = await request(url, { dispatcher, method: 'GET', signal });
  await res.body.dump();
  return res;
}

/**
 * One request from its intended start: follows up to three redirects to configured servers.
 * Returns where the browser is afterwards (a URL base) and the outcome.
 */
async function fetchOne(t0, url, isBypass) {
  const ctrl = new AbortController();
  const left = t0 + s.timeout - now();
  const timer = setTimeout(() => ctrl.abort(), Math.max(0, left));
  let outcome = ERROR;
  let server = -1;
  let at = url;
  try {
    for (let hop = 0; hop < 4; hop++) {
      const res = await roundTrip(at, ctrl.signal);
      if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
        const next = new URL(String(res.headers.location), at);
        if (!allowed.has(next.origin)) {
          rec.badRedirects++;
          break;
        }
        at = next.href;
        continue;
      }
      if (res.statusCode >= 200 && res.statusCode < 300) {
        outcome = OK;
        server = names.indexOf(String(res.headers['x-served-by']));
      }
      break;
    }
  } catch {
    outcome = ctrl.signal.aborted ? TIMEOUT : ERROR;
  }
  clearTimeout(timer);
  const scored = addRequest(rec, s.timeout, t0, now(), isBypass, outcome, server);
  // A server's share by when its requests were due (the simulator counts when they arrive).
  if (t0 >= 0 && t0 < s.duration && !isBypass && scored.outcome === OK)
    rec.arrivals[Math.floor(t0 / 1000)][server]++;
  return { ...scored, at: new URL(at).origin };
}

function geometric(mean) {
  if (mean <= 0) return 0;
  return Math.floor(Math.log(1 - Math.random()) / Math.log(1 - 1 / (1 + mean)));
}

async function user(t0, isBypass, door) {
  const first = isBypass ? servers[bypassTo] : doors[door];
  let r = await fetchOne(t0, `${first}/lab`, isBypass);
  if (!s.sessions) return;
  let total = r.latency;
  let ok = r.outcome === OK;
  // Behind a proxy the browser stays at the door; after a redirect it is at the server.
  const where = r.at;
  for (let k = geometric(s.sessions.followUps); ok && k > 0; k--) {
    if (a['no-tail'] && now() >= s.duration) break;
    await sleep(-Math.log(1 - Math.random()) * s.sessions.think);
    r = await fetchOne(now(), `${where}/lab`, isBypass);
    total += r.latency;
    ok = r.outcome === OK;
  }
  if (t0 >= 0 && t0 < s.duration) {
    rec.sessionTotal.push(total);
    rec.sessionOk.push(ok ? 1 : 0);
  }
}

const rateAt = (t) => (s.sessions ? sessionRate(s, Math.max(0, t)) : offeredRate(s, Math.max(0, t)));
let peak = rateAt(0);
for (let t = 0; t < s.duration; t += 100) peak = Math.max(peak, rateAt(t));
// Arrivals go on past the measured run so its last requests meet the same load (not in
// --quick, which only checks that everything runs).
const stop = a['no-tail']
  ? s.duration
  : s.duration + (s.sessions ? 10 * s.sessions.think + s.timeout : s.timeout);
const pending = new Set();

// Started late, the warm-up is cut short rather than sent as one burst.
let next = Math.max(-s.warmup, now());
while (now() < next - 5) await sleep(Math.min(1000, next - now()));
while (next < stop) {
  const t = now();
  if (next > t + 1) {
    await sleep(next - t - 0.5);
    continue;
  }
  // Every arrival due by now starts now, timed from when it was due.
  while (next <= now() && next < stop) {
    const t0 = next;
    next += (-Math.log(1 - Math.random()) * 1000) / peak;
    if (Math.random() * peak >= rateAt(t0)) continue;
    if (now() - t0 > 10) rec.late++;
    rec.sent++;
    const isBypass = s.bypass !== undefined && Math.random() < s.bypass.share;
    const door = isBypass ? 0 : pickDoor(shares, Math.random());
    const p = user(t0, isBypass, door).finally(() => pending.delete(p));
    pending.add(p);
  }
}
await Promise.allSettled([...pending]);
lag.disable();
writeFileSync(
  a.out,
  JSON.stringify({
    ...rec,
    duration: s.duration,
    servers: names,
    lag: { p99: lag.percentile(99) / 1e6, max: lag.max / 1e6 },
  }),
);
await dispatcher.close();
