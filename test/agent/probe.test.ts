import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { InterfaceListener } from '../../src/agent/interface-listener.js';
import { type ProbeResult, Prober } from '../../src/agent/probe.js';
import { manualClock, seededRandom } from '../../src/core/random.js';
import { createInterface } from '../../src/interface/index.js';
import type { RequestRecord } from '../../src/protocol/messages.js';
import { eventually, httpRequest, quiet, serve, tempDir } from '../helpers.js';

const rec = (r: Partial<RequestRecord> & Pick<RequestRecord, 'start' | 'queueWait' | 'serviceTime'>) => ({
  server: 'web-a',
  method: 'GET',
  path: '/',
  status: 200,
  ...r,
});

test('FIG. 4 and 5 with a scripted interface: the own record found, requests ahead counted, time split', async (t) => {
  const wall = manualClock(1000);
  const clock = manualClock(0);
  const prober = new Prober({
    clock: clock.now,
    wallClock: wall.now,
    random: seededRandom(1),
    settle: 200,
  });
  let trackedBeforeOwn = -1;
  const url = await serve(t, (req, res) => {
    // What the interface would report while the probe waits and is served.
    const query = req.url!.slice(req.url!.indexOf('?') + 1);
    prober.onRecord(rec({ server: 'web-b', start: 1001, queueWait: 30, serviceTime: 10 })); // other server
    prober.onRecord(rec({ start: 900, queueWait: 0, serviceTime: 50 })); // done before the probe was sent
    prober.onRecord(rec({ start: 990, queueWait: 0, serviceTime: 40 })); // being served when it came
    prober.onRecord(rec({ start: 1001, queueWait: 30, serviceTime: 10 })); // waiting in front of it
    prober.onRecord(rec({ start: 1005, queueWait: 0, serviceTime: 2 })); // came after it
    trackedBeforeOwn = prober.tracked;
    prober.onRecord(rec({ start: 1002, queueWait: 35, serviceTime: 15, path: '/health', query }));
    clock.advance(60);
    res.end('ok');
    // One that was ahead finishes just after the probe: still counted.
    setImmediate(() => prober.onRecord(rec({ start: 1000, queueWait: 36, serviceTime: 30 })));
  });
  const r = await prober.probe({ server: 'web-a', url, path: '/health' });
  assert.deepEqual(r, {
    ok: true,
    server: 'web-a',
    status: 200,
    responseTime: 60,
    viaInterface: true,
    queueDelay: 35,
    serviceTime: 15,
    transit: 10,
    ahead: 2,
    inService: 1,
  });
  assert.equal(trackedBeforeOwn, 3, 'the finished request and the other server are not kept');
  assert.equal(prober.inFlight, 0);
  assert.equal(prober.tracked, 0);
});

test('a server without an interface: the response time alone', async (t) => {
  const url = await serve(t, (_req, res) => res.end('hello'));
  const prober = new Prober({ recordWait: 30 });
  // Records from other servers do not make it look interfaced.
  prober.onRecord(rec({ start: Date.now(), queueWait: 0, serviceTime: 1, query: 'sy_probe=x' }));
  const r = await prober.probe({ server: 'plain', url });
  assert.equal(r.ok, true);
  assert.deepEqual(Object.keys(r).sort(), ['ok', 'responseTime', 'server', 'status', 'viaInterface']);
  assert.equal(r.ok && r.viaInterface, false);
  assert.ok(r.responseTime > 0 && r.responseTime < 5000, String(r.responseTime));
  assert.equal(prober.inFlight, 0);
});

test('a probe that gets no answer times out, and its late record is ignored', async (t) => {
  const held: Array<{ query: string; res: ServerResponse }> = [];
  const url = await serve(t, (req, res) => {
    held.push({ query: req.url!.slice(req.url!.indexOf('?') + 1), res });
  });
  const prober = new Prober({ timeout: 100, recordWait: 30 });
  const r = await prober.probe({ server: 'web-a', url, path: '/slow' });
  assert.equal(r.ok, false);
  assert.match(
    !r.ok ? r.reason : '',
    /^GET http:\/\/127\.0\.0\.1:\d+\/slow\?sy_probe=[0-9a-z]{12}: no answer within 100 ms$/,
  );
  assert.ok(r.responseTime >= 90, String(r.responseTime));
  assert.equal(prober.inFlight, 0);
  assert.equal(held.length, 1);
  prober.onRecord(rec({ start: Date.now(), queueWait: 500, serviceTime: 1, query: held[0]!.query }));
  assert.equal(prober.tracked, 0);
});

test('one probe per server at a time; records are kept only while a probe is in flight, and only so many', async (t) => {
  let seen = 0;
  const release: Array<() => void> = [];
  const url = await serve(t, (_req, res) => {
    seen++;
    release.push(() => res.end('ok'));
  });
  const prober = new Prober({ recordWait: 20, settle: 0, maxTracked: 3 });
  prober.onRecord(rec({ start: Date.now(), queueWait: 0, serviceTime: 1 }));
  assert.equal(prober.tracked, 0, 'nothing kept with no probe in flight');

  const first = prober.probe({ server: 'web-a', url });
  const second = prober.probe({ server: 'web-a', url });
  assert.equal(second, first);
  const other = prober.probe({ server: 'web-b', url });
  await eventually(() => seen === 2, 'one request per server');
  assert.equal(prober.inFlight, 2);
  for (let i = 0; i < 10; i++) prober.onRecord(rec({ start: Date.now(), queueWait: 1, serviceTime: 1 }));
  assert.equal(prober.tracked, 3);
  for (const r of release.splice(0)) r();
  const [a, b] = await Promise.all([first, other]);
  assert.equal(a.ok && a.viaInterface, false);
  assert.equal(b.ok && b.viaInterface, false);
  assert.equal(seen, 2);
  assert.equal(prober.inFlight, 0);
  assert.equal(prober.tracked, 0);
});

test('too many records meanwhile: the split is given, the count is not guessed', async (t) => {
  const prober = new Prober({ maxTracked: 2, settle: 0 });
  const url = await serve(t, (req, res) => {
    const now = Date.now();
    for (let i = 0; i < 5; i++) prober.onRecord(rec({ start: now, queueWait: 50, serviceTime: 1 }));
    prober.onRecord(rec({ start: now, queueWait: 4, serviceTime: 3, query: req.url!.split('?')[1] }));
    res.end('ok');
  });
  const r = await prober.probe({ server: 'web-a', url });
  assert.equal(r.ok && r.viaInterface, true);
  assert.equal(r.ok && r.queueDelay, 4);
  assert.equal(r.ok && r.serviceTime, 3);
  assert.equal(r.ok && r.ahead, undefined);
  assert.equal(r.ok && r.inService, undefined);
});

test('a real interface with a queue: the probe agrees with the interface figures', async (t) => {
  const HOLD = 20;
  const SLOTS = 2;
  const CLIENTS = 6;
  const PROBES = 8;
  const dir = tempDir();
  const socket = join(dir, 'agent.sock');
  const prober = new Prober({ timeout: 5000, recordWait: 1000 });
  let records = 0;
  const listener = new InterfaceListener({
    path: socket,
    log: quiet,
    onRecords: (_s, rs) => {
      for (const r of rs) {
        records++;
        prober.onRecord(r);
      }
    },
    onOverflow: () => {},
  });
  await listener.start();
  t.after(() => listener.close());
  const iface = createInterface({ server: 'web-a', slots: SLOTS, markKey: 's', agentSocket: socket });
  t.after(() => iface.close());
  const url = await serve(
    t,
    iface.wrap((_req, res) => {
      setTimeout(() => res.end('ok'), HOLD);
    }),
  );
  await eventually(() => listener.session('web-a'), 'the interface to reach the agent');

  // A bounded background load: CLIENTS requests always in the server or on their way.
  let stop = false;
  const loops = Array.from({ length: CLIENTS }, async () => {
    while (!stop) await httpRequest(`${url}/bg`);
  });
  t.after(async () => {
    stop = true;
    await Promise.all(loops);
  });
  await eventually(() => iface.queue.length >= 2, 'a queue to build');

  iface.figures(); // a fresh interval for the comparison
  const results: ProbeResult[] = [];
  for (let i = 0; i < PROBES; i++) results.push(await prober.probe({ server: 'web-a', url, path: '/page' }));
  const figures = iface.figures();
  stop = true;
  await Promise.all(loops);

  const probes = results.map((r) => {
    assert.ok(r.ok && r.viaInterface, JSON.stringify(r));
    return r;
  });
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const probeDelay = mean(probes.map((p) => p.queueDelay!));
  const detail = JSON.stringify({ probes, figures });
  assert.ok(figures.queueDelay > HOLD, `a queue was there: ${detail}`);
  assert.ok(
    Math.abs(probeDelay - figures.queueDelay) <= Math.max(20, 0.5 * figures.queueDelay),
    `probe ${probeDelay.toFixed(1)} ms vs interface ${figures.queueDelay.toFixed(1)} ms: ${detail}`,
  );
  // Six clients on two slots: some four wait at any moment. A probe may still find the queue
  // empty now and then (the clients' next requests not sent yet on a busy machine), so the
  // count is checked on average, and bounded for each probe.
  assert.ok(mean(probes.map((p) => p.ahead!)) >= 1, `ahead on average: ${detail}`);
  for (const p of probes) {
    assert.ok(p.ahead! <= CLIENTS, `ahead: ${detail}`);
    // Everything in front of the probe is one of the background requests (one may be counted
    // twice at a millisecond boundary: the request that just ended and its client's next).
    assert.ok(p.ahead! + p.inService! <= CLIENTS + 1, `ahead + inService: ${detail}`);
    assert.ok(p.serviceTime! >= HOLD - 1, `service: ${detail}`);
    assert.ok(p.responseTime >= p.queueDelay! + p.serviceTime! - 1, `response: ${detail}`);
  }
  assert.ok(records > 20, String(records));
  assert.equal(prober.inFlight, 0);
  assert.equal(prober.tracked, 0);
});
