import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DemoServer, startDemoServer } from '../../src/demo/server.js';
import type { StatusView } from '../../src/interceptor/views.js';
import {
  type Answer,
  eventually,
  httpRequest,
  metricValue,
  type RunningInterceptor,
  startInterceptorCli,
  tempDir,
} from '../helpers.js';

/**
 * The FIG. 2 flow over real sockets: a real interceptor process in front of real demo
 * servers, driven with plain HTTP requests that do not follow redirects unless a test says so.
 */

const SORRY = '<!doctype html><title>Closed</title><h1>Closed for stock-taking</h1>\n';
const RETRY_AFTER = '7';

const demos: Record<string, DemoServer> = {};
let ic: RunningInterceptor;
let dir: string;

function site(): string {
  const url = (n: string) => demos[n]!.url;
  return `
interceptor:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  retryAfter: ${RETRY_AFTER}
servers:
  - { name: a, url: ${url('a')}, capacity: 1 }
  - { name: b, url: ${url('b')}, capacity: 3 }
  - { name: c, url: ${url('c')} }
  - { name: off, url: ${url('c')}, enabled: false }
  - name: e
    url: ${url('e')}
    healthCheck: { path: /healthz, interval: 100ms, timeout: 1s, rise: 1, fall: 2 }
  - { name: f, url: ${url('f')} }
applications:
  - { name: shop, match: { host: shop.example }, servers: [a, b] }
  - { name: shop-api, match: { host: shop.example, pathPrefix: /api }, servers: [c] }
  - { name: catalog, match: { pathPrefix: /catalog }, servers: [f] }
  - { name: closed, match: { host: closed.example }, servers: [a], enabled: false, sorryPage: sorry.html }
  - { name: closed-plain, match: { host: plain-closed.example }, servers: [a], enabled: false }
  - { name: see-other, match: { host: see-other.example }, servers: [c], redirectStatus: 303 }
  - { name: temporary, match: { host: temporary.example }, servers: [c], redirectStatus: 307 }
  - { name: nobody, match: { host: nobody.example }, servers: [off], sorryPage: sorry.html }
  - { name: nobody-plain, match: { host: nobody-plain.example }, servers: [off] }
  - { name: fragile, match: { host: fragile.example }, servers: [e, f] }
  - { name: sticky, match: { host: sticky.example, pathPrefix: /app }, servers: [a, b], affinity: cookie }
  - name: filler
    match: { host: limits.example, pathPrefix: /filler }
    servers: [c]
    enabled: false
    sorryPage: big.html
  - { name: tiny, match: { host: limits.example, pathPrefix: /tiny }, servers: [c], maxConcurrent: 2 }
`;
}

before(async () => {
  for (const name of ['a', 'b', 'c', 'e', 'f']) demos[name] = await startDemoServer({ port: 0, name });
  dir = tempDir({ 'sorry.html': SORRY, 'big.html': 'x'.repeat(1_000_000), 'site.yaml': site() });
  ic = await startInterceptorCli(join(dir, 'site.yaml'));
});

after(async () => {
  await ic?.stop();
  await Promise.all(Object.values(demos).map((d) => d.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A request for `host` and exactly `path` (URL parsing would drop a lone "?"). */
const get = (host: string, path: string, extra: Parameters<typeof httpRequest>[1] = {}) =>
  httpRequest(ic.url, { ...extra, path, headers: { host, ...extra.headers } });

/** The demo server a redirect points at, by name; fails on any other Location. */
function serverOf(r: Answer): string {
  assert.ok(r.status >= 300 && r.status < 400, `expected a redirect, got ${r.status} ${r.body}`);
  const origin = new URL(String(r.headers.location)).origin;
  const name = Object.keys(demos).find((n) => demos[n]!.url === origin);
  assert.ok(name, `Location ${r.headers.location} is not a configured server`);
  return name;
}

/** Which servers `n` requests for `host` are sent to. */
async function spread(host: string, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add(serverOf(await get(host, '/')));
  return seen;
}

test('step 1: the application is found by Host and by longest path prefix; no match is 404', async () => {
  const cases: Array<[host: string, path: string, servers: string[]]> = [
    ['shop.example', '/', ['a', 'b']],
    ['SHOP.Example:8080', '/x', ['a', 'b']],
    ['shop.example', '/api', ['c']],
    ['shop.example', '/api/v1?x=1', ['c']],
    ['shop.example', '/apiary', ['a', 'b']],
    ['shop.example', '/catalog/x', ['f']],
    ['elsewhere.example', '/catalog', ['f']],
  ];
  for (const [host, path, servers] of cases) {
    const r = await get(host, path);
    assert.equal(r.status, 302, `${host}${path}`);
    assert.ok(servers.includes(serverOf(r)), `${host}${path} went to ${r.headers.location}`);
  }
  for (const [host, path] of [
    ['elsewhere.example', '/'],
    ['elsewhere.example', '/catalogue'],
    ['shop.example.evil', '/'],
  ] as const) {
    const r = await get(host, path);
    assert.equal(r.status, 404, `${host}${path}`);
    assert.equal(r.headers.location, undefined);
    assert.equal(r.body, 'no application matches this request\n');
  }
});

test('step 2: a disabled application answers 503 with its sorry page and Retry-After', async () => {
  for (const method of ['GET', 'POST']) {
    const r = await get('closed.example', '/any/page?x=1', {
      method,
      body: method === 'POST' ? 'a=1' : undefined,
    });
    assert.equal(r.status, 503);
    assert.equal(r.body, SORRY);
    assert.equal(r.headers['retry-after'], RETRY_AFTER);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['x-switchyard-reason'], 'application disabled');
    assert.equal(r.headers.location, undefined);
  }
  const builtin = await get('plain-closed.example', '/');
  assert.equal(builtin.status, 503);
  assert.equal(builtin.headers['retry-after'], RETRY_AFTER);
  assert.match(builtin.body, /temporarily unavailable/);
});

test('steps 3-4: Location is the server base URL plus the path and query, untouched', async () => {
  const targets = [
    '/p/a%20b/%C3%A9;v=1?q=1&r=%2F&s=a+b&t=%3Cx%3E&u=',
    '/?',
    '/%2e%2e/secret?next=%2F%2Fevil.example',
    '/a/../b/./c',
    "/x?a=1&a=2&json=%7B%22k%22%3A%5B1%5D%7D&q=it's",
  ];
  for (const target of targets) {
    const r = await get('shop.example', target);
    assert.equal(r.status, 302);
    const server = serverOf(r);
    assert.equal(r.headers.location, demos[server]!.url + target);
    assert.equal(r.headers['content-length'], '0');
  }
  // Followed, the demo server sees exactly the original target.
  const r = await get('shop.example', targets[0]!);
  const served = await httpRequest(String(r.headers.location));
  assert.equal(served.status, 200);
  assert.match(
    served.body,
    new RegExp(`^served by ${serverOf(r)}\nmethod GET\npath ${literal(targets[0]!)}\n$`),
  );
});

test('shares follow static capacities 1:3 over a few thousand requests', async () => {
  const N = 4000;
  const counts = new Map<string, number>();
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    for (let sent = 0; sent < N; sent += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, () => get('shop.example', `/item/${sent}`, { agent })),
      );
      for (const r of batch) {
        const name = serverOf(r);
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
    }
  } finally {
    agent.destroy();
  }
  assert.deepEqual([...counts.keys()].sort(), ['a', 'b']);
  const shareA = counts.get('a')! / N;
  // Binomial spread alone is under 0.007 here; the referral correction only narrows it.
  assert.ok(Math.abs(shareA - 0.25) < 0.03, `a got ${(shareA * 100).toFixed(1)}% of ${N}, expected 25%`);
});

test('a form POST gets 307, and following it with the same method and body reaches a server', async () => {
  const form = 'user=ann&note=caf%C3%A9+au+lait&empty=';
  for (const host of ['shop.example', 'see-other.example']) {
    const r = await get(host, '/checkout?step=2', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    assert.equal(r.status, 307, host);
    const server = serverOf(r);
    const echoed = await httpRequest(String(r.headers.location), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    assert.equal(echoed.status, 200);
    assert.deepEqual(JSON.parse(echoed.body), {
      server,
      method: 'POST',
      path: '/checkout?step=2',
      contentType: 'application/x-www-form-urlencoded',
      body: form,
    });
  }
});

test('redirectStatus per application: 302, 303 or 307 for GET and HEAD; 307 for other methods', async () => {
  const cases: Array<[string, number]> = [
    ['shop.example', 302],
    ['see-other.example', 303],
    ['temporary.example', 307],
  ];
  for (const [host, status] of cases) {
    for (const method of ['GET', 'HEAD']) {
      const r = await get(host, '/page', { method });
      assert.equal(r.status, status, `${method} ${host}`);
      serverOf(r);
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const r = await get(host, '/page', { method, body: 'x=1' });
      assert.equal(r.status, 307, `${method} ${host}`);
    }
  }
});

test('step 5: no server available (all disabled) answers 503 with the sorry page or the built-in one', async () => {
  const withPage = await get('nobody.example', '/');
  assert.equal(withPage.status, 503);
  assert.equal(withPage.body, SORRY);
  assert.equal(withPage.headers['retry-after'], RETRY_AFTER);
  assert.equal(withPage.headers['x-switchyard-reason'], 'no server available');
  const plain = await get('nobody-plain.example', '/x');
  assert.equal(plain.status, 503);
  assert.equal(plain.headers['retry-after'], RETRY_AFTER);
  assert.equal(plain.headers['x-switchyard-reason'], 'no server available');
  assert.match(plain.body, /temporarily unavailable/);
  const text = await ic.metrics();
  assert.ok(metricValue(text, 'switchyard_interceptor_refusals_total', { reason: 'no-server' }) >= 2);
});

test('a dead server leaves rotation through the checks and returns when it listens again', async () => {
  assert.deepEqual([...(await spread('fragile.example', 40))].sort(), ['e', 'f']);
  const port = demos.e!.port;
  await demos.e!.close();
  const up = async () => metricValue(await ic.metrics(), 'switchyard_interceptor_server_up', { server: 'e' });
  await eventually(async () => (await up()) === 0, 'e to be marked down by its checks');
  assert.deepEqual([...(await spread('fragile.example', 100))], ['f']);
  const status = (await ic.admin<StatusView>('GET', '/status')).json;
  const e = status.servers.find((s) => s.name === 'e')!;
  assert.equal(e.health, 'down');
  assert.match(e.healthError ?? '', /ECONNREFUSED/);

  demos.e = await startDemoServer({ port, name: 'e' });
  await eventually(async () => (await up()) === 1, 'e to pass its checks again');
  const back = await eventually(async () => {
    const r = await get('fragile.example', '/again');
    return serverOf(r) === 'e' ? r : undefined;
  }, 'a request to be sent to e again');
  const served = await httpRequest(String(back.headers.location));
  assert.equal(served.headers['x-served-by'], 'e');
});

test('affinity: the cookie brings a browser back to its server while it is enabled', async (t) => {
  const first = await get('sticky.example', '/app/home');
  const server = serverOf(first);
  assert.deepEqual(first.headers['set-cookie'], [`sy_server=${server}; Path=/app; HttpOnly; SameSite=Lax`]);
  for (const name of ['a', 'b']) {
    for (let i = 0; i < 20; i++) {
      const r = await get('sticky.example', `/app/page/${i}`, {
        headers: { cookie: `theme=dark; sy_server=${name}; other=1` },
      });
      assert.equal(serverOf(r), name);
      assert.equal(r.headers['set-cookie'], undefined, 'no new cookie for a browser already at its server');
    }
  }
  // A cookie naming no server of the application is ignored and replaced.
  const bogus = await get('sticky.example', '/app/x', { headers: { cookie: 'sy_server=../../evil' } });
  assert.match(String(bogus.headers['set-cookie']), new RegExp(`^sy_server=${serverOf(bogus)};`));

  // Once its server is disabled the browser moves, and gets a cookie for its new server.
  t.after(() => ic.admin('POST', '/servers/a/enable'));
  assert.equal((await ic.admin('POST', '/servers/a/disable')).status, 200);
  const moved = await get('sticky.example', '/app/x', { headers: { cookie: 'sy_server=a' } });
  assert.equal(serverOf(moved), 'b');
  assert.match(String(moved.headers['set-cookie']), /^sy_server=b; Path=\/app;/);
  assert.equal((await ic.admin('POST', '/servers/a/enable')).status, 200);
});

test('maxConcurrent holds over sockets: past it 503 at once, and slots come back when clients go', async (t) => {
  // A client that pipelines requests and never reads: ten 1 MB sorry pages fill the socket's
  // buffers, so the responses to the two /tiny requests behind them cannot be sent and keep
  // their slots; the third /tiny request of that client is refused.
  const holder = connect(ic.port, '127.0.0.1');
  holder.pause();
  holder.on('error', () => {});
  t.after(() => holder.destroy());
  await once(holder, 'connect');
  holder.write(
    'GET /filler HTTP/1.1\r\nHost: limits.example\r\n\r\n'.repeat(10) +
      'GET /tiny/1 HTTP/1.1\r\nHost: limits.example\r\n\r\n'.repeat(3),
  );
  const inFlight = async (app: string) =>
    (await ic.admin<StatusView>('GET', '/status')).json.applications.find((a) => a.name === app)!.inFlight;
  await eventually(async () => (await inFlight('tiny')) === 2, 'two /tiny requests in flight');

  const refused = await get('limits.example', '/tiny/2');
  assert.equal(refused.status, 503);
  assert.equal(refused.body, 'too many requests for this application\n');
  assert.equal(refused.headers['retry-after'], RETRY_AFTER);
  assert.equal(refused.headers.location, undefined);
  const text = await ic.metrics();
  assert.ok(metricValue(text, 'switchyard_interceptor_refusals_total', { reason: 'overloaded' }) >= 2);

  // The client goes away with its responses unsent: every slot is released.
  holder.destroy();
  await eventually(
    async () => (await inFlight('tiny')) === 0 && (await inFlight('filler')) === 0,
    'the slots to be released',
  );
  const ok = await get('limits.example', '/tiny/3');
  assert.equal(ok.status, 302);
  assert.equal(serverOf(ok), 'c');
});

/** A string as a literal regular expression. */
function literal(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
