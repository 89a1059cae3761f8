// Simulated agents for bench:scale (bench/scale.mjs): each links to the manager as a real agent
// does (its own name, the agent key) and relays the queue figures of its servers, each an
// M/M/c queue simulated on the wall clock (Poisson arrivals at --rate a second, exponential
// service of --service ms mean, --slots slots, first come first served), in the interface's
// own terms (queue length, busy slots, mean wait of those started, mean service time and count
// of those finished in the interval). It reports as the shipped agent does: every
// reportEvery(reportInterval, followed service times) ms (core/report-interval.ts: half its
// fastest server's service time, at most the configured interval), host CPU and memory with
// each message, a backed-up link skipping a round, and answers every command with ok. No
// request records are sent: bench:ingest measures the store.
//
// node bench/scale-feeder.mjs --manager ws://127.0.0.1:PORT/link --first K --agents N
//   [--per 10] [--rate 100] [--service 20] [--slots 4] [--report-interval 25] [--seed S]
// Agent k is named a<k> with servers s<(k-1)*per+1> .. s<k*per>. The agent key comes from
// SWITCHYARD_AGENT_KEY (SWITCHYARD_SECRET for builds before D52). Prints "feeder started" once its agents dial, "feeder linked N" once every
// agent is welcomed, and on the line "stats" on stdin a line "stats {...}" with what it sent
// and how many agents are linked; stops on SIGTERM.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { seededRandom } from '../dist/core/random.js';
import { followService, reportEvery } from '../dist/core/report-interval.js';
import { LinkClient } from '../dist/link/link-client.js';
import { createLogger } from '../dist/log/logger.js';
import { PROTOCOL_VERSION } from '../dist/protocol/version.js';

const { values: a } = parseArgs({
  options: {
    manager: { type: 'string' },
    first: { type: 'string', default: '1' },
    agents: { type: 'string', default: '1' },
    per: { type: 'string', default: '10' },
    rate: { type: 'string', default: '100' },
    service: { type: 'string', default: '20' },
    slots: { type: 'string', default: '4' },
    'report-interval': { type: 'string', default: '25' },
    seed: { type: 'string', default: '1' },
  },
});
const num = (k, min, max) => {
  const v = Number(a[k]);
  if (!Number.isFinite(v) || v < min || v > max) {
    console.error(`scale-feeder: --${k} must be a number from ${min} to ${max}`);
    process.exit(2);
  }
  return v;
};
if (!a.manager || !(process.env.SWITCHYARD_AGENT_KEY ?? process.env.SWITCHYARD_SECRET)) {
  console.error('scale-feeder: --manager and SWITCHYARD_AGENT_KEY are needed');
  process.exit(2);
}
const first = num('first', 1, 100_000);
const count = num('agents', 1, 10_000);
const per = num('per', 1, 1000);
const rate = num('rate', 0.001, 100_000) / 1000; // arrivals per ms
const service = num('service', 0.01, 100_000);
const slots = num('slots', 1, 10_000);
const configured = num('report-interval', 1, 60_000);
const random = seededRandom(num('seed', 0, 2 ** 31));
const log = createLogger('scale-feeder', 'warn');

/** Longest stretch of simulated time one report catches up on; a stall skips ahead (ms). */
const MAX_CATCH_UP = 1000;
/** Most events one server's catch-up takes in a report, whatever the stretch. */
const MAX_EVENTS = 50_000;

const expo = (mean) => -Math.log(1 - random()) * mean;

/** One server's queue on the wall clock. */
function makeServer(name, now) {
  return {
    name,
    at: now,
    nextArrival: now + expo(1 / rate),
    /** Requests in a slot: [end, duration], kept sorted by end. */
    busy: [],
    /** Arrival times of those waiting. */
    waiting: [],
    finished: 0,
    serviceSum: 0,
    started: 0,
    waitSum: 0,
    followed: 0,
  };
}

function start(s, t, arrived) {
  const d = expo(service);
  const end = t + d;
  let i = s.busy.length;
  while (i > 0 && s.busy[i - 1][0] > end) i--;
  s.busy.splice(i, 0, [end, d]);
  s.started++;
  s.waitSum += t - arrived;
}

/** Runs the queue up to `now` and returns the interval's figures, as the interface gives them. */
function figures(s, now) {
  if (now - s.at > MAX_CATCH_UP) {
    // The process stalled: what happened meanwhile is not simulated, arrivals go on from now.
    s.at = now - MAX_CATCH_UP;
    if (s.nextArrival < s.at) s.nextArrival = s.at + expo(1 / rate);
  }
  for (let n = 0; n < MAX_EVENTS; n++) {
    const end = s.busy.length > 0 ? s.busy[0][0] : Infinity;
    const t = Math.min(end, s.nextArrival);
    if (t > now) break;
    if (end <= s.nextArrival) {
      const [, d] = s.busy.shift();
      s.finished++;
      s.serviceSum += d;
      if (s.waiting.length > 0) start(s, end, s.waiting.shift());
    } else {
      if (s.busy.length < slots) start(s, t, t);
      else s.waiting.push(t);
      s.nextArrival = t + expo(1 / rate);
    }
  }
  s.at = now;
  const oldest = s.waiting.length > 0 ? now - s.waiting[0] : 0;
  const f = {
    queueLength: s.waiting.length,
    busy: s.busy.length,
    slots,
    queueDelay: Math.round(Math.max(s.started > 0 ? s.waitSum / s.started : 0, oldest) * 100) / 100,
    serviceTime: s.finished > 0 ? Math.round((s.serviceSum / s.finished) * 100) / 100 : 0,
    requests: s.finished,
    errors: 0,
  };
  s.finished = s.serviceSum = s.started = s.waitSum = 0;
  s.followed = followService(s.followed, f.serviceTime, f.requests);
  return f;
}

const sent = { messages: 0, servers: 0, skipped: 0 };
let linked = 0;
let stopped = false;
const agents = [];
for (let k = first; k < first + count; k++) {
  const now = performance.now();
  const agent = {
    name: `a${k}`,
    servers: Array.from({ length: per }, (_, i) => makeServer(`s${(k - 1) * per + i + 1}`, now)),
    timer: undefined,
    welcomed: false,
  };
  agent.link = new LinkClient({
    url: a.manager,
    role: 'agent',
    id: agent.name,
    // `key` for this build, `secret` for builds before D52.
    key: process.env.SWITCHYARD_AGENT_KEY ?? process.env.SWITCHYARD_SECRET,
    secret: process.env.SWITCHYARD_AGENT_KEY ?? process.env.SWITCHYARD_SECRET,
    log,
    onWelcome: () => {
      if (agent.welcomed) return;
      agent.welcomed = true;
      if (++linked === count) console.log(`feeder linked ${count}`);
    },
    onMessage: (m) => {
      if (m.type === 'command') agent.link.send({ v: PROTOCOL_VERSION, type: 'result', id: m.id, ok: true });
    },
  });
  agents.push(agent);
}

function report(agent) {
  if (stopped) return;
  const now = performance.now();
  // A backed-up link keeps no old figures: this round is skipped, as the agent skips it.
  if (!agent.link.connected || agent.link.buffered > 256 * 1024) sent.skipped++;
  else {
    const servers = agent.servers.map((s) => ({ server: s.name, figures: figures(s, now), age: 0 }));
    agent.link.send({ v: PROTOCOL_VERSION, type: 'figures', servers, cpu: 0.3, memory: 0.5 });
    sent.messages++;
    sent.servers += servers.length;
  }
  const every = reportEvery(
    configured,
    agent.servers.map((s) => s.followed),
  );
  agent.timer = setTimeout(report, every, agent);
}

for (const agent of agents) {
  agent.link.start();
  // Agents start out of step, as real hosts do.
  agent.timer = setTimeout(report, random() * configured, agent);
}
console.log('feeder started');

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'stats') {
    const every = agents.map((g) =>
      reportEvery(
        configured,
        g.servers.map((s) => s.followed),
      ),
    );
    console.log(
      `stats ${JSON.stringify({ ...sent, linked, reportEvery: every.reduce((t, x) => t + x, 0) / every.length })}`,
    );
  }
});

process.once('SIGTERM', async () => {
  stopped = true;
  for (const g of agents) clearTimeout(g.timer);
  await Promise.race([
    Promise.all(agents.map((g) => g.link.close())),
    new Promise((r) => setTimeout(r, 2000)),
  ]);
  process.exit(0);
});
