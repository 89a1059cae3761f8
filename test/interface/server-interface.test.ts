import assert from 'node:assert/strict';
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { test } from 'node:test';
import { manualClock } from '../../src/core/random.js';
import { ServerInterface } from '../../src/interface/server-interface.js';
import { CHECK_HEADER } from '../../src/protocol/check-header.js';
import { FIELD_BITS } from '../../src/protocol/local-record.js';
import type { RequestRecord } from '../../src/protocol/messages.js';
import { makeMark } from '../../src/protocol/redirect-mark.js';
import { eventually, httpRequest } from '../helpers.js';

const SECRET = 'site-secret';

/**
 * Puts another wrapper of writeHead on a response, as on-headers (morgan, compression) does:
 * it runs `first`, then the writeHead the response had.
 */
function wrapWriteHead(res: ServerResponse, first: () => void = () => {}): void {
  const before = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    first();
    return (before as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}

/** A real server with the interface in it; its handler answers after `hold` resolves. */
async function serve(opts: {
  slots: number;
  maxWaiting?: number;
  queueTimeout?: number;
  stateful?: string[];
}) {
  const records: RequestRecord[] = [];
  const seen: string[] = [];
  const release: Array<() => void> = [];
  let holding = false;
  const iface = new ServerInterface({
    server: 'web-a',
    slots: opts.slots,
    maxWaiting: opts.maxWaiting,
    queueTimeout: opts.queueTimeout,
    pages: { mode: 'stateful', pages: opts.stateful ?? [] },
    markKey: SECRET,
    report: (r) => records.push(r),
  });
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.url ?? '');
    if (req.url?.startsWith('/shop/')) {
      // As a mounted router does (Express strips its mount path), and a header rewritten.
      req.url = req.url.slice('/shop'.length);
      req.headers['user-agent'] = 'rewritten by the application';
    }
    const answer = () => {
      if (req.url === '/writehead') {
        // Headers given only to writeHead, in the case the application chose.
        res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': '5' });
        res.end('hello');
        return;
      }
      if (req.url === '/both') {
        // Set with setHeader, then given again to writeHead: what was sent is the second.
        res.setHeader('Content-Type', 'text/plain');
        res.writeHead(200, { 'CONTENT-TYPE': 'application/json', 'content-length': '2' });
        res.end('{}');
        return;
      }
      if (req.url === '/reason') {
        // A reason phrase, an unusual spelling, and writeHead's answer used to end.
        res.writeHead(201, 'Made', { 'Content-type': 'image/png', 'content-length': '1' }).end('x');
        return;
      }
      if (req.url === '/array') {
        // Headers as a flat array of names and values: found in the header block Node wrote.
        res.writeHead(200, ['Content-Type', 'text/csv', 'Content-Length', '1']);
        res.end('y');
        return;
      }
      if (req.url === '/none') {
        res.writeHead(204);
        res.end();
        return;
      }
      if (req.url === '/wrapped') {
        // Another wrapper of writeHead after the interface's, as on-headers (morgan,
        // compression) puts one: it sets a header first, so Node merges writeHead's in.
        wrapWriteHead(res, () => res.setHeader('x-wrapped', '1'));
        res.writeHead(200, { 'content-type': 'text/css', 'content-length': '1' });
        res.end('z');
        return;
      }
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('ab');
        res.end('cd');
        return;
      }
      res.setHeader('content-type', 'text/plain');
      res.writeHead(200, { 'content-length': '3' });
      res.end('ok\n');
    };
    if (holding) release.push(answer);
    else answer();
  };
  const server: Server = createServer(iface.wrap(handler));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    iface,
    url,
    records,
    seen,
    hold(on: boolean) {
      holding = on;
      if (!on) for (const r of release.splice(0)) r();
    },
    held: () => release.length,
    async close() {
      iface.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

test('requests beyond the slots wait in order; waits and service times are exact; records carry Table 3 fields', async (t) => {
  const s = await serve({ slots: 1 });
  t.after(() => s.close());
  s.hold(true);
  const first = httpRequest(`${s.url}/a?x=1`, { headers: { 'user-agent': 'ua-test', cookie: 'k=v' } });
  await eventually(() => s.held() === 1, 'the first request to be inside');
  const second = httpRequest(`${s.url}/b`);
  await eventually(() => s.iface.queue.length === 1, 'the second to wait');
  const mid = s.iface.figures();
  assert.equal(mid.queueLength, 1);
  assert.equal(mid.busy, 1);
  s.hold(false);
  assert.equal((await first).status, 200);
  assert.equal((await second).status, 200);
  assert.deepEqual(s.seen, ['/a?x=1', '/b']);
  await eventually(() => s.records.length === 2, 'both records');
  const [a, b] = s.records;
  assert.equal(a!.path, '/a');
  assert.equal(a!.query, 'x=1');
  assert.equal(a!.userAgent, 'ua-test');
  assert.equal(a!.cookies, true);
  assert.equal(a!.status, 200);
  assert.equal(a!.bytes, 3);
  assert.equal(a!.contentType, 'text/plain');
  assert.equal(a!.aborted, false);
  assert.equal(a!.protocol, 'HTTP/1.1');
  assert.ok(b!.queueWait > 0, 'the second request waited');
  const f = s.iface.figures();
  assert.equal(f.requests, 2);
  assert.ok(f.queueDelay > 0);
});

test('user agent, referrer and cookies are read whatever the case of the header names; the first one counts', async (t) => {
  const s = await serve({ slots: 2 });
  t.after(() => s.close());
  const r = await httpRequest(`${s.url}/p`, {
    headers: { 'USER-AGENT': 'first-ua', rEfErEr: ['http://a.example/', 'http://b.example/'] },
  });
  assert.equal(r.status, 200);
  await httpRequest(`${s.url}/q`, { headers: { 'user-agent': 'second-ua', CoOkIe: 'k=v' } });
  await eventually(() => s.records.length === 2, 'both records');
  const [p, q] = s.records;
  assert.equal(p!.userAgent, 'first-ua');
  assert.equal(p!.referrer, 'http://a.example/');
  assert.equal(p!.cookies, false);
  assert.equal(q!.userAgent, 'second-ua');
  assert.equal(q!.referrer, undefined);
  assert.equal(q!.cookies, true);
});

test('a full queue answers 503 with Retry-After at once', async (t) => {
  const s = await serve({ slots: 1, maxWaiting: 0 });
  t.after(() => {
    s.hold(false);
    return s.close();
  });
  s.hold(true);
  const first = httpRequest(`${s.url}/a`);
  await eventually(() => s.held() === 1, 'the first request to be inside');
  const refused = await httpRequest(`${s.url}/b`);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers['retry-after'], '5');
  s.hold(false);
  assert.equal((await first).status, 200);
});

test('told to redirect, stateless pages go to the target with a mark; stateful pages stay; POST gets 307', async (t) => {
  const s = await serve({ slots: 4, stateful: ['/cart/*'] });
  t.after(() => s.close());
  s.iface.redirectTo('http://127.0.0.1:1/');
  const moved = await httpRequest(`${s.url}/page?x=1`);
  assert.equal(moved.status, 302);
  assert.match(
    String(moved.headers.location),
    /^http:\/\/127\.0\.0\.1:1\/page\?x=1&sy_from=web-a~\d+~[\w-]{22}$/,
  );
  const post = await httpRequest(`${s.url}/form`, { method: 'POST', body: 'a=1' });
  assert.equal(post.status, 307);
  const cart = await httpRequest(`${s.url}/cart/42`);
  assert.equal(cart.status, 200);
  assert.deepEqual(s.seen, ['/cart/42']);
  await eventually(() => s.records.length === 3, 'three records');
  assert.match(s.records[0]!.redirectedTo ?? '', /^http:\/\/127\.0\.0\.1:1\/page/);
  assert.equal(s.iface.figures().redirected, 2);
  s.iface.redirectTo(undefined);
  assert.equal((await httpRequest(`${s.url}/page`)).status, 200);
});

test("while redirecting, Switchyard's own checks are served where they asked, not moved", async (t) => {
  // A test page answered with a redirect marked a server at its maximum load as down.
  const s = await serve({ slots: 4 });
  t.after(() => s.close());
  s.iface.redirectTo('http://127.0.0.1:1');
  const check = await httpRequest(`${s.url}/healthz`, { headers: { [CHECK_HEADER]: 'test-page' } });
  assert.equal(check.status, 200);
  assert.equal((await httpRequest(`${s.url}/healthz`)).status, 302, 'anyone else is moved');
  assert.deepEqual(s.seen, ['/healthz']);
});

test('a request that was moved once is served, never bounced; the application never sees the mark', async (t) => {
  const s = await serve({ slots: 4 });
  t.after(() => s.close());
  s.iface.redirectTo('http://127.0.0.1:1');
  const mark = makeMark(SECRET, 'web-b', Date.now());
  const r = await httpRequest(`${s.url}/page?x=1&sy_from=${mark}`);
  assert.equal(r.status, 200);
  // A forged mark is stripped too, but does not stop the redirect.
  const forged = await httpRequest(`${s.url}/page?sy_from=web-b~9999999999~AAAAAAAAAAAAAAAAAAAAAA`);
  assert.equal(forged.status, 302);
  assert.deepEqual(s.seen, ['/page?x=1']);
});

test('the field mask chooses which optional fields a record carries', async (t) => {
  const s = await serve({ slots: 4 });
  t.after(() => s.close());
  s.iface.setMask(FIELD_BITS.userAgent);
  await httpRequest(`${s.url}/a?q=1`, { headers: { 'user-agent': 'x' } });
  await eventually(() => s.records.length === 1, 'the record');
  assert.deepEqual(Object.keys(s.records[0]!).sort(), [
    'method',
    'path',
    'queueWait',
    'server',
    'serviceTime',
    'start',
    'status',
    'userAgent',
  ]);
});

test('records carry the content type and size of answers whose headers were given to writeHead', async (t) => {
  const s = await serve({ slots: 2 });
  t.after(() => s.close());
  assert.equal((await httpRequest(`${s.url}/writehead`)).status, 200);
  assert.equal((await httpRequest(`${s.url}/chunked`)).status, 200);
  await eventually(() => s.records.length === 2, 'both records');
  const [head, chunked] = s.records;
  assert.equal(head!.contentType, 'text/html');
  assert.equal(head!.bytes, 5);
  assert.equal(chunked!.contentType, 'text/plain');
  // No content-length: what the socket wrote, headers and chunk framing included.
  assert.ok(chunked!.bytes! > 4, `bytes ${chunked!.bytes}`);
});

test('records carry the content type however writeHead was given it, and none when it was given none', async (t) => {
  const s = await serve({ slots: 2 });
  t.after(() => s.close());
  const reason = await httpRequest(`${s.url}/reason`);
  assert.equal(reason.status, 201);
  assert.equal(reason.headers['content-type'], 'image/png');
  for (const path of ['/array', '/none', '/wrapped'])
    assert.ok((await httpRequest(`${s.url}${path}`)).status < 300);
  await eventually(() => s.records.length === 4, 'the records');
  const types = Object.fromEntries(s.records.map((r) => [r.path, r.contentType]));
  assert.deepEqual(types, {
    '/reason': 'image/png',
    '/array': 'text/csv',
    '/none': undefined,
    '/wrapped': 'text/css',
  });
  assert.equal(s.records.find((r) => r.path === '/reason')!.bytes, 1);
});

test('a record says what the client asked for, even when the application rewrites req.url and headers', async (t) => {
  const s = await serve({ slots: 2 });
  t.after(() => s.close());
  await httpRequest(`${s.url}/shop/item?page=3`, { headers: { 'user-agent': 'browser/1' } });
  await eventually(() => s.records.length === 1, 'the record');
  assert.deepEqual(s.seen, ['/shop/item?page=3']);
  const r = s.records[0]!;
  assert.equal(r.path, '/shop/item');
  assert.equal(r.query, 'page=3');
  assert.equal(r.userAgent, 'browser/1');
});

test('a content type set with setHeader and given again to writeHead is recorded as sent', async (t) => {
  const s = await serve({ slots: 2 });
  t.after(() => s.close());
  const r = await httpRequest(`${s.url}/both`);
  assert.equal(r.headers['content-type'], 'application/json');
  await eventually(() => s.records.length === 1, 'the record');
  assert.equal(s.records[0]!.contentType, 'application/json');
  assert.equal(s.records[0]!.bytes, 2);
});

test('a request that passes two interfaces (middleware mounted twice) frees its slot in both', async (t) => {
  const records: string[] = [];
  const make = (server: string) =>
    new ServerInterface({
      server,
      slots: 1,
      markKey: SECRET,
      report: (r) => records.push(`${r.server} ${r.contentType}`),
    });
  const outer = make('outer');
  const inner = make('inner');
  // Between the two, another wrapper of writeHead (as on-headers puts one): the inner
  // interface must not catch writeHead again and call round through it.
  const server = createServer((req, res) =>
    outer.handle(req, res, () => {
      wrapWriteHead(res);
      inner.handle(req, res, () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    outer.close();
    inner.close();
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  // One slot each: a second request would wait for ever behind a slot never freed.
  for (let i = 0; i < 3; i++) assert.equal((await httpRequest(url)).status, 200);
  await eventually(() => records.length === 6, 'a record from each interface for each request');
  assert.equal(outer.queue.inService, 0);
  assert.equal(inner.queue.inService, 0);
  assert.deepEqual(
    records.sort(),
    ['inner', 'inner', 'inner', 'outer', 'outer', 'outer'].map((name) => `${name} text/plain`),
  );
});

test('on one keep-alive connection, each chunked answer counts its own bytes, not the connection’s', async (t) => {
  const s = await serve({ slots: 2 });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => {
    agent.destroy();
    return s.close();
  });
  for (let i = 0; i < 3; i++) assert.equal((await httpRequest(`${s.url}/chunked`, { agent })).status, 200);
  await eventually(() => s.records.length === 3, 'three records');
  const sizes = s.records.map((r) => r.bytes);
  assert.ok(sizes[0]! > 4, `bytes ${sizes[0]}`);
  assert.deepEqual(sizes, [sizes[0], sizes[0], sizes[0]]);
});

test('a record’s start is the wall-clock time the request arrived, and follows the wall clock when it is stepped', async (t) => {
  const mono = manualClock(5_000);
  let wall = Date.UTC(2026, 0, 1);
  const records: RequestRecord[] = [];
  let answer: (() => void) | undefined;
  const iface = new ServerInterface({
    server: 'web-a',
    slots: 1,
    markKey: SECRET,
    report: (r) => records.push(r),
    clock: mono.now,
    wallClock: () => wall,
  });
  const server = createServer(
    iface.wrap((_req, res) => {
      answer = () => res.end('ok');
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    iface.close();
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const arrivedAt = wall;
  let pending = httpRequest(url);
  await eventually(() => answer !== undefined, 'the request to be inside');
  // 250 ms of service; the wall clock moves with the monotonic one.
  mono.advance(250);
  wall += 250;
  answer!();
  await pending;
  await eventually(() => records.length === 1, 'the first record');
  assert.equal(records[0]!.start, arrivedAt);
  assert.equal(records[0]!.serviceTime, 250);
  // The wall clock is stepped an hour ahead (NTP, an operator); the monotonic one is not.
  wall += 3_600_000;
  mono.advance(2_000);
  wall += 2_000;
  answer = undefined;
  const steppedAt = wall;
  pending = httpRequest(url);
  await eventually(() => answer !== undefined, 'the second request to be inside');
  answer!();
  await pending;
  await eventually(() => records.length === 2, 'the second record');
  assert.equal(records[1]!.start, steppedAt);
});

test('a redirect with a lease lapses unless renewed: the server serves everyone again', () => {
  const mono = manualClock(1000);
  const iface = new ServerInterface({ server: 'web-a', slots: 1, markKey: SECRET, clock: mono.now });
  iface.redirectTo('http://127.0.0.1:1/', 1000);
  mono.advance(600);
  assert.equal(iface.redirectTarget, 'http://127.0.0.1:1');
  iface.redirectTo('http://127.0.0.1:1/', 1000); // renewed
  mono.advance(900);
  assert.equal(
    iface.redirectTarget,
    'http://127.0.0.1:1',
    'renewed: 1,500 ms after the first, still standing',
  );
  mono.advance(101);
  assert.equal(iface.redirectTarget, undefined, 'not renewed within its lease: gone');
  iface.redirectTo('http://127.0.0.1:1/');
  mono.advance(1e9);
  assert.equal(iface.redirectTarget, 'http://127.0.0.1:1', 'without a lease (the API, by hand) it stands');
});

test('a redirect is built from the target as the interceptor reads it: absolute-form for another host and `*` are served, never redirected', async (t) => {
  const s = await serve({ slots: 4 });
  t.after(() => s.close());
  s.iface.redirectTo('http://127.0.0.1:18080/');
  const port = new URL(s.url).port;
  // Raw requests: an HTTP client would not send these targets.
  const raw = (target: string, method = 'GET') =>
    new Promise<string>((resolve, reject) => {
      const c = connect(Number(port), '127.0.0.1', () =>
        c.end(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`),
      );
      let out = '';
      c.on('data', (d) => {
        out += d;
      });
      c.on('end', () => resolve(out));
      c.on('error', reject);
    });
  const foreign = await raw('http://evil.example/x?y=1');
  assert.match(foreign, /^HTTP\/1\.1 200/, foreign.split('\r\n')[0]);
  assert.doesNotMatch(foreign, /evil\.example/);
  const star = await raw('*', 'OPTIONS');
  assert.doesNotMatch(star, /^HTTP\/1\.1 30[27]/);
  // Absolute-form for this very host is the same page as origin-form: moved, with a clean path.
  const own = await raw(`http://127.0.0.1:${port}/page?x=1`);
  assert.match(own, /^HTTP\/1\.1 302/);
  assert.match(own, /\r\nlocation: http:\/\/127\.0\.0\.1:18080\/page\?x=1&sy_from=web-a~/i);
  // A path that would make a scheme-relative URL stays a path.
  const slashes = await raw('//evil.example/x');
  assert.match(slashes, /\r\nlocation: http:\/\/127\.0\.0\.1:18080\/%2Fevil\.example\/x\?sy_from=/i);
});
