import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { seededRandom } from '../../src/core/random.js';
import {
  type DemoServer,
  type DemoServerOptions,
  drawServiceTime,
  MAX_BODY_BYTES,
  startDemoServer,
} from '../../src/demo/server.js';
import { eventually, httpRequest, runCli, startCli } from '../helpers.js';

const open: DemoServer[] = [];
after(() => Promise.all(open.map((s) => s.close())));

/** Requests the server has taken in, in any state. */
const arrived = (s: DemoServer) => s.stats().served + s.stats().active + s.stats().queued;

/**
 * Like `eventually` but polling every millisecond: the timing test needs to send its next
 * request right after the previous one arrived, not up to 20 ms later.
 */
async function soon(check: () => boolean, what: string, deadlineMs = 5000): Promise<void> {
  const end = performance.now() + deadlineMs;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function demo(opts: Partial<DemoServerOptions> = {}): Promise<DemoServer> {
  const s = await startDemoServer({ port: 0, name: 'web-a', ...opts });
  open.push(s);
  return s;
}

test('GET and HEAD answer with x-served-by and name the server, method and path', async () => {
  const web = await demo();
  assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const got = await httpRequest(`${web.url}/shop/cart?item=3`);
  assert.equal(got.status, 200);
  assert.equal(got.headers['x-served-by'], 'web-a');
  assert.match(String(got.headers['content-type']), /^text\/plain/);
  assert.equal(got.body, 'served by web-a\nmethod GET\npath /shop/cart?item=3\n');

  const head = await httpRequest(`${web.url}/x`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['x-served-by'], 'web-a');
  assert.equal(head.body, '');
});

test('a form POST is echoed back with its content type and body', async () => {
  const web = await demo();
  const form = 'user=ann&note=caf%C3%A9+au+lait';
  const got = await httpRequest(`${web.url}/checkout?step=2`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  });
  assert.equal(got.status, 200);
  assert.equal(got.headers['x-served-by'], 'web-a');
  assert.deepEqual(JSON.parse(got.body), {
    server: 'web-a',
    method: 'POST',
    path: '/checkout?step=2',
    contentType: 'application/x-www-form-urlencoded',
    body: form,
  });
});

test('a body over 1 MiB is refused with 413, whether declared or chunked', async () => {
  const web = await demo();
  const big = 'x'.repeat(MAX_BODY_BYTES + 1);
  const declared = await httpRequest(`${web.url}/upload`, { method: 'PUT', body: big });
  assert.equal(declared.status, 413);
  assert.equal(declared.headers['x-served-by'], 'web-a');
  const chunked = await httpRequest(`${web.url}/upload`, {
    method: 'PUT',
    headers: { 'transfer-encoding': 'chunked' },
    body: big,
  });
  assert.equal(chunked.status, 413);
  // Exactly the limit is fine.
  const fits = await httpRequest(`${web.url}/upload`, { method: 'PUT', body: big.slice(1) });
  assert.equal(fits.status, 200);
  assert.equal(JSON.parse(fits.body).body.length, MAX_BODY_BYTES);
  assert.equal(web.stats().served, 1);
});

test('with one slot, requests are served one at a time in arrival order', async () => {
  const web = await demo({ maxConcurrent: 1, serviceTime: { mean: 50, distribution: 'fixed' } });
  const t0 = performance.now();
  const finished: string[] = [];
  const elapsed: number[] = [];
  const pending: Promise<void>[] = [];
  for (let i = 0; i < 3; i++) {
    const sent = performance.now();
    pending.push(
      httpRequest(`${web.url}/r${i}`).then((a) => {
        assert.equal(a.status, 200);
        finished.push(a.body.match(/path (\S+)/)![1]!);
        elapsed[i] = performance.now() - sent;
      }),
    );
    // Arrival order is only certain once the server holds the request.
    await soon(() => arrived(web) === i + 1, `request ${i} to arrive`);
  }
  await Promise.all(pending);
  const total = performance.now() - t0;

  assert.deepEqual(finished, ['/r0', '/r1', '/r2']);
  // Timers may fire a millisecond early; the slack below allows for it and for the few ms
  // the last request was sent after the first.
  assert.ok(elapsed[0]! >= 45, `first request took ${elapsed[0]} ms`);
  // The last waited for two others (~100 ms) before its own 50 ms.
  assert.ok(elapsed[2]! >= 100, `last request took ${elapsed[2]} ms`);
  assert.ok(total >= 140, `three requests took ${total} ms`);
  assert.deepEqual(web.stats(), { served: 3, active: 0, queued: 0 });
});

test('/healthz answers at once while every slot is busy', async () => {
  const web = await demo({ maxConcurrent: 1, serviceTime: { mean: 300, distribution: 'fixed' } });
  const slow = httpRequest(`${web.url}/slow`);
  await eventually(() => web.stats().active === 1, 'the slow request to start');
  const t = performance.now();
  const health = await httpRequest(`${web.url}/healthz`);
  const took = performance.now() - t;
  assert.equal(health.status, 200);
  assert.equal(health.body, 'ok\n');
  assert.equal(health.headers['x-served-by'], 'web-a');
  assert.ok(took < 250, `health check took ${took} ms`);
  assert.equal((await slow).status, 200);
  assert.equal(web.stats().served, 1);
});

test('a request beyond maxQueue is answered 503 at once', async () => {
  // Long enough that the first is still in service when the third arrives, even on a busy machine.
  const web = await demo({
    maxConcurrent: 1,
    maxQueue: 1,
    serviceTime: { mean: 400, distribution: 'fixed' },
  });
  const first = httpRequest(`${web.url}/1`);
  await eventually(() => web.stats().active === 1, 'the first request to start');
  const second = httpRequest(`${web.url}/2`);
  await eventually(() => web.stats().queued === 1, 'the second request to queue');
  const third = await httpRequest(`${web.url}/3`);
  assert.equal(third.status, 503);
  assert.equal(third.headers['x-served-by'], 'web-a');
  assert.equal((await first).status, 200);
  assert.equal((await second).status, 200);
  assert.deepEqual(web.stats(), { served: 2, active: 0, queued: 0 });
});

test('close() ends the server even with requests in service and waiting', async () => {
  const web = await startDemoServer({
    port: 0,
    name: (port) => `demo-${port}`,
    maxConcurrent: 1,
    serviceTime: { mean: 60_000, distribution: 'fixed' },
  });
  assert.equal(web.name, `demo-${web.port}`);
  const a = httpRequest(`${web.url}/a`).catch(() => 'dropped');
  const b = httpRequest(`${web.url}/b`).catch(() => 'dropped');
  await eventually(() => web.stats().queued === 1, 'one request in service and one waiting');
  await web.close();
  assert.equal(await a, 'dropped');
  assert.equal(await b, 'dropped');
  await assert.rejects(httpRequest(`${web.url}/c`));
});

test('service times: fixed is exact, uniform stays in [0, 2 × mean], both random ones average the mean', async () => {
  const random = seededRandom(11);
  assert.equal(drawServiceTime({ mean: 50, distribution: 'fixed' }, random), 50);
  assert.equal(drawServiceTime({ mean: 0, distribution: 'exponential' }, random), 0);
  for (const distribution of ['uniform', 'exponential'] as const) {
    const n = 50_000;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const ms = drawServiceTime({ mean: 20, distribution }, random);
      assert.ok(ms >= 0 && Number.isFinite(ms));
      if (distribution === 'uniform') assert.ok(ms <= 40);
      sum += ms;
    }
    assert.ok(Math.abs(sum / n - 20) < 0.5, `${distribution} mean ${sum / n}`);
  }
  assert.equal(
    drawServiceTime({ mean: 10, distribution: 'exponential' }, () => 0),
    0,
  );
  await assert.rejects(startDemoServer({ port: 0, name: 'x', maxConcurrent: 0 }), RangeError);
});

test('the CLI logs its real URL when started on port 0, serves, and exits 0 on SIGTERM', async () => {
  const cli = startCli(['demo-server', '--port', '0', '--name', 'x']);
  try {
    const m = await cli.waitFor(/^\{.*"msg":"demo-server x listening on .*\}$/m, 'the listening line');
    const line = JSON.parse(m[0]);
    assert.equal(line.component, 'demo-server');
    assert.equal(line.name, 'x');
    assert.match(line.url, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    const got = await httpRequest(`${line.url}/hello`);
    assert.equal(got.status, 200);
    assert.equal(got.headers['x-served-by'], 'x');
  } finally {
    assert.equal(await cli.stop('SIGTERM'), 0, cli.output());
  }
});

test('the CLI refuses bad numbers with one line and exit code 2', async () => {
  for (const args of [
    ['--port', 'abc'],
    ['--port', '0', '--service-time', 'soon'],
    ['--port', '0', '--max-concurrent', '0'],
    ['--port', '0', '--distribution', 'normal'],
    [],
  ]) {
    const r = await runCli(['demo-server', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^switchyard: .+\n$/, args.join(' '));
    assert.equal(r.stdout, '');
  }
});
