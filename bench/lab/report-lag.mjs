// The report lag: from a queue forming at a server until the interceptor's /metrics shows it.
// A redirecting door never sees a request finish, so this lag is what its figures are late by
// (issue 8: past about ten service times the gain over a proxy turns into a loss).
//
// One demo server with the interface in it (2 slots, 400 ms fixed service time), the agent, the
// manager and one interceptor, all real processes on 127.0.0.1, for each report interval.
// A trial waits a random part of the interval (so trials fall at every phase of the agent's
// timer), sends 12 requests straight to the server (2 inside, 10 waiting), and polls the
// interceptor's switchyard_interceptor_server_queue_length until it shows 3 or more waiting.
// The queue stays at 3 or more for 1.6 s, longer than any lag at a 1 s interval.
//
//   npm run bench:report-lag -- [--intervals 100,250,1000] [--trials 20] [--quick]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePorts } from '../../dist/lab/free-ports.js';
import { labSiteText } from '../../dist/lab/lab-site.js';
import { scenarioSchema } from '../../dist/lab/scenario.js';
import { percentile } from '../../dist/lab/summary.js';
import { BenchError, siteKeys } from '../common.mjs';
import { ProcessGroup, waitFor } from './processes.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/cli/main.js');
const SERVICE_MS = 400;
const BURST = 12;
const SHOWN = 3;

const { values: a } = parseArgs({
  options: {
    intervals: { type: 'string', default: '100,250,1000' },
    trials: { type: 'string', default: '20' },
    quick: { type: 'boolean', default: false },
  },
});
const intervals = (a.quick ? '100' : a.intervals).split(',').map(Number);
const trials = a.quick ? 3 : Number(a.trials);
if (intervals.some((i) => !Number.isInteger(i) || i < 10 || i > 10_000))
  throw new BenchError(`--intervals: whole ms between 10 and 10000, got ${a.intervals}`);
if (!Number.isInteger(trials) || trials < 1)
  throw new BenchError(`--trials: a whole number >= 1, got ${a.trials}`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The queue length the interceptor holds for `web`, or undefined before any figures. */
async function shownQueue(metricsUrl) {
  const text = await (await fetch(metricsUrl)).text();
  const m = /^switchyard_interceptor_server_queue_length\{server="web"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

async function measure(interval) {
  const dir = mkdtempSync(join(tmpdir(), 'sy-lag-'));
  const group = new ProcessGroup({
    env: { ...process.env, ...siteKeys(randomBytes(24).toString('hex')) },
    cwd: dir,
  });
  const start = (name, args) => group.start(name, process.execPath, [MAIN, ...args]);
  try {
    const [serverPort, managerPort, icPort, adminPort] = await freePorts(4);
    const server = `http://127.0.0.1:${serverPort}`;
    const socket = join(dir, 'agent.sock');
    const s = scenarioSchema.parse({
      name: 'report-lag',
      description: 'one server, for the report lag',
      servers: [{ name: 'web', strength: 1 }],
      load: 0.5,
    });
    writeFileSync(
      join(dir, 'site.yaml'),
      labSiteText(s, {
        mode: 'dynamic',
        urls: [server],
        listen: `127.0.0.1:${icPort}`,
        admin: `127.0.0.1:${adminPort}`,
        manager: `127.0.0.1:${managerPort}`,
        socket,
        reportInterval: interval,
        redirects: false,
      }),
    );
    start('manager', ['manager', '--config', 'site.yaml', '--data-dir', 'data']);
    start('agent', ['agent', '--config', 'site.yaml', '--name', 'lab']);
    start('demo server', [
      'demo-server',
      ...['--port', String(serverPort), '--name', 'web', '--agent-socket', socket],
      ...['--slots', '2', '--service-time', String(SERVICE_MS)],
    ]);
    start('interceptor', ['interceptor', '--config', 'site.yaml']);
    const metricsUrl = `http://127.0.0.1:${adminPort}/metrics`;
    await waitFor(
      'report-lag: figures for web at the interceptor',
      async () => (await shownQueue(metricsUrl)) === 0,
      20_000,
      20,
    );

    const lags = [];
    const polls = [];
    for (let t = 0; t < trials; t++) {
      group.check();
      await sleep(Math.random() * interval);
      const t0 = performance.now();
      const burst = Array.from({ length: BURST }, (_, i) =>
        fetch(`${server}/lag-${t}-${i}`).then((r) => r.arrayBuffer()),
      );
      for (;;) {
        const p0 = performance.now();
        const q = await shownQueue(metricsUrl);
        polls.push(performance.now() - p0);
        if (q !== undefined && q >= SHOWN) break;
        if (performance.now() - t0 > 5000)
          throw new BenchError('report-lag: the queue never showed within 5 s');
      }
      lags.push(performance.now() - t0);
      await Promise.all(burst);
      await waitFor(
        'report-lag: the queue to show as gone',
        async () => (await shownQueue(metricsUrl)) === 0,
        5000,
        20,
      );
    }
    group.check();
    return { interval, lags, polls };
  } finally {
    await group.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const f = (x) => x.toFixed(0).padStart(6);
console.log(
  `report lag: ${BURST} requests at a server with 2 slots until the interceptor's /metrics shows ${SHOWN} or more waiting; ${trials} trials per interval\n`,
);
console.log('interval ms   trials    p50    p90    max   mean   poll ms (mean)');
for (const interval of intervals) {
  const { lags, polls } = await measure(interval);
  const sorted = Float64Array.from(lags).sort();
  const mean = lags.reduce((x, y) => x + y, 0) / lags.length;
  const poll = polls.reduce((x, y) => x + y, 0) / polls.length;
  console.log(
    `${String(interval).padStart(11)}   ${String(lags.length).padStart(6)} ${f(percentile(sorted, 0.5))} ${f(percentile(sorted, 0.9))} ${f(sorted[sorted.length - 1])} ${f(mean)}   ${poll.toFixed(1)}`,
  );
}
