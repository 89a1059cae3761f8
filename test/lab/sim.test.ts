import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { seededRandom } from '../../src/core/random.js';
import { loadScenario, type Scenario, scenarioSchema } from '../../src/lab/scenario.js';
import { EventQueue } from '../../src/lab/sim/event-queue.js';
import { type Job, SimServer } from '../../src/lab/sim/sim-server.js';
import { simulate } from '../../src/lab/sim/simulate.js';
import { comeback, percentile, recovery, shareReaction, summarize } from '../../src/lab/summary.js';

const DIR = join(import.meta.dirname, '../../bench/lab/scenarios');

test('the event queue runs events in time order, ties in the order scheduled', () => {
  const q = new EventQueue();
  const seen: string[] = [];
  q.at(5, () => seen.push(`a${q.now}`));
  q.at(1, () => {
    seen.push(`b${q.now}`);
    q.after(2, () => seen.push(`c${q.now}`));
  });
  q.at(5, () => seen.push(`d${q.now}`));
  q.run(4);
  assert.deepEqual(seen, ['b1', 'c3']);
  assert.equal(q.now, 4);
  q.run(10);
  assert.deepEqual(seen, ['b1', 'c3', 'a5', 'd5']);
});

test('a simulated server is M/M/1 when it should be: mean response s / (1 - rho)', () => {
  const q = new EventQueue();
  const r = seededRandom(11);
  const srv = new SimServer(q, 'x', 1, () => -Math.log(1 - r()) * 20);
  let sum = 0;
  let n = 0;
  let t = 0;
  for (let i = 0; i < 100_000; i++) {
    t += -Math.log(1 - r()) * 40; // 25 a second against 50 a second: rho = 0.5
    const at = t;
    q.at(at, () => {
      const job: Job = {
        deadline: Infinity,
        arrived: at,
        done: (now) => {
          sum += now - at;
          n++;
        },
      };
      srv.arrive(job);
    });
  }
  q.run(Infinity);
  assert.equal(n, 100_000);
  assert.ok(Math.abs(sum / n - 40) < 1.5, `mean ${sum / n}`);
});

test('a client that gives up frees its slot, as the interface frees it', () => {
  const q = new EventQueue();
  const srv = new SimServer(q, 'x', 1, () => 100);
  const outcomes: string[] = [];
  const job = (deadline: number, name: string): Job => ({
    deadline,
    arrived: 0,
    done: (now, ok) => outcomes.push(`${name}:${ok}@${now}`),
  });
  q.at(0, () => {
    srv.arrive(job(50, 'first')); // gone at 50, while served
    srv.arrive(job(40, 'second')); // gone while it waited: costs nothing
    srv.arrive(job(1000, 'third'));
  });
  q.run(Infinity);
  assert.deepEqual(outcomes, ['first:false@50', 'second:false@50', 'third:true@150']);
});

test('percentiles are nearest-rank; the time-window figures read shares and recovery', () => {
  const v = Float64Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(v, 0.5), 50);
  assert.equal(percentile(v, 0.99), 99);
  assert.equal(percentile(v, 1), 100);
  // A server with 30 % of the traffic, then 10 % from second 2, then 30 % again from second 5.
  const arrivals = [30, 30, 10, 10, 10, 30, 30].map((x) => [x, 100 - x]);
  const base = { duration: 7000, servers: ['slow', 'fast'], arrivals, sessionTotal: [], sessionOk: [] };
  const rec = { ...base, t0: [], latency: [], bypass: [], outcome: [], server: [] };
  assert.deepEqual(shareReaction(rec, 0, 2000, 5000), { down: 1000, up: 1000 });
  assert.deepEqual(shareReaction(rec, 0, 1500, 5000), { down: 1500, up: 1000 });
  // Its fair share is 40 %: half of it (20 %) first reached in the window ending at 6 s, 1 s
  // after it came back at 5 s; the one window after that gave it 30 %, 0.75 of fair.
  const back = comeback(rec, 0, 5000, 0.4);
  assert.equal(back.back, 1000);
  assert.ok(Math.abs(back.peak! - 0.75) < 1e-9);
  assert.deepEqual(comeback(rec, 0, 2000, 0.8), { back: undefined, peak: undefined });
  // Latency 10 ms before 20 s, 100 ms from 20 s to 34 s, 12 ms after: the window from 34 s
  // to 36 s is the first back within 1.5 of 10 ms, 6 s after the step down at 30 s.
  const t0: number[] = [];
  const latency: number[] = [];
  for (let t = 0; t < 40_000; t += 10) {
    t0.push(t);
    latency.push(t < 20_000 ? 10 : t < 34_000 ? 100 : 12);
  }
  const zeros = t0.map(() => 0);
  const flash = { ...base, duration: 40_000, t0, latency, bypass: zeros, outcome: zeros, server: zeros };
  const r = recovery(flash, 20_000, 30_000);
  assert.equal(r.baseline, 10);
  assert.equal(r.recovered, 6000);
});

test('a server that joins is out of rotation until it starts, for every contender', () => {
  const s = scenarioSchema.parse({
    name: 'late',
    description: 'b joins at 2 s',
    duration: '4s',
    warmup: '1s',
    servers: [
      { name: 'a', strength: 2 },
      { name: 'b', strength: 2, start: '2s' },
    ],
    load: 0.3,
  });
  for (const name of ['switchyard', 'lc', 'rr-w', 'gateway'] as const) {
    const r = simulate(s, { name }, 5);
    assert.deepEqual(
      r.arrivals.map((w) => w[1]! > 0),
      [false, false, true, true],
      name,
    );
  }
});

test('one seed gives one run: the simulator repeats itself exactly', () => {
  const s = loadScenario(join(DIR, 'uneven.yaml'));
  const short: Scenario = { ...s, duration: 5000, warmup: 1000 };
  const a = summarize(simulate(short, { name: 'switchyard' }, 7));
  const b = summarize(simulate(short, { name: 'switchyard' }, 7));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, summarize(simulate(short, { name: 'switchyard' }, 8)));
});

test('every contender meets the same requests; one server answers them all when it is alone', () => {
  const s = scenarioSchema.parse({
    name: 'alone',
    description: 'one server',
    duration: '5s',
    warmup: '1s',
    servers: [{ name: 'only', strength: 2 }],
    load: 0.5,
  });
  const counts = ['switchyard', 'switchyard-static', 'lc', 'lc-q', 'redir', 'gateway'].map((name) => {
    const r = summarize(simulate(s, { name: name as 'lc' }, 3));
    assert.deepEqual(r.shares, [1]);
    assert.equal(r.routed.errors + r.routed.timeouts, 0, name);
    return r.routed.requests;
  });
  assert.equal(new Set(counts).size, 1);
});

test('the shipped choice beats lc where the servers are uneven and where traffic bypasses the door (simulated, the balancing alone)', () => {
  for (const [name, most] of [
    ['uneven', 0.95],
    ['bypass', 0.5],
  ] as const) {
    const s = { ...loadScenario(join(DIR, `${name}.yaml`)), addedDelay: 0 };
    const p99 = (c: 'switchyard' | 'lc') => summarize(simulate(s, { name: c }, 1)).routed.p99;
    const ratio = p99('switchyard') / p99('lc');
    assert.ok(ratio <= most, `${name}: switchyard / lc = ${ratio.toFixed(2)}`);
  }
});

test('at a 20 and a 60 ms round trip the redirect costs its one extra round trip and no more (simulated, uneven)', () => {
  for (const rt of [20, 60]) {
    const s = { ...loadScenario(join(DIR, 'uneven.yaml')), addedDelay: rt, duration: 20_000 };
    const p99 = (c: 'switchyard' | 'lc-w') => summarize(simulate(s, { name: c }, 1)).routed.p99;
    const most = (p99('lc-w') + rt) * 1.05;
    const got = p99('switchyard');
    assert.ok(got <= most, `round trip ${rt} ms: p99 ${got.toFixed(1)}, at most ${most.toFixed(1)}`);
  }
});

test('a freed slot goes to the next request waiting at the server before the door hears of it: never a slot too many', () => {
  const q = new EventQueue();
  const srv = new SimServer(q, 'x', 1, () => 10);
  let most = 0;
  const job = (): Job => ({
    deadline: Infinity,
    arrived: 0,
    done: () => {
      // A proxy with a queue of its own sends its next request the moment it hears.
      if (sent < 6) {
        sent++;
        srv.arrive(job());
      }
      most = Math.max(most, srv.busy);
      last = q.now;
    },
  });
  let sent = 2;
  let last = 0;
  q.at(0, () => {
    srv.arrive(job());
    srv.arrive(job());
  });
  q.run(Infinity);
  assert.equal(most, 1, 'busy slots never above the one slot');
  assert.equal(last, 60, 'six requests of 10 ms, one at a time');
});

test('the gateway beats lc-q where traffic bypasses it and where a server slows, and keeps up in uneven (simulated, 20 ms)', () => {
  for (const [name, most] of [
    ['bypass', 0.6],
    ['degrade', 0.97],
    ['uneven', 1.03],
  ] as const) {
    const s = loadScenario(join(DIR, `${name}.yaml`));
    const p99 = (c: 'gateway' | 'lc-q') => summarize(simulate(s, { name: c }, 1)).routed.p99;
    const ratio = p99('gateway') / p99('lc-q');
    assert.ok(ratio <= most, `${name}: gateway / lc-q = ${ratio.toFixed(2)}`);
  }
});
