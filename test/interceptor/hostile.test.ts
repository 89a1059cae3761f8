import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DemoServer, startDemoServer } from '../../src/demo/server.js';
import {
  eventually,
  httpRequest,
  metricValue,
  type RawAnswer,
  type RunningInterceptor,
  rawRequest,
  startInterceptorCli,
  tempDir,
} from '../helpers.js';

/**
 * Hostile input over raw sockets against a real interceptor process: nothing a client sends
 * may put a raw control byte or an extra line into a response header, or make a redirect
 * point anywhere but a configured server; refusals are counted by reason.
 */

const MAX_URL = 256;
const MAX_HEADER_BYTES = 4096;

let a: DemoServer;
let b: DemoServer;
let ic: RunningInterceptor;
let dir: string;

before(async () => {
  a = await startDemoServer({ port: 0, name: 'a' });
  b = await startDemoServer({ port: 0, name: 'b' });
  dir = tempDir({
    'site.yaml': `
interceptor:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  maxUrlLength: ${MAX_URL}
  maxHeaderBytes: ${MAX_HEADER_BYTES}
  headersTimeout: 500ms
servers:
  - { name: a, url: ${a.url} }
  - { name: b, url: ${b.url} }
applications:
  - { name: shop, match: { pathPrefix: / }, servers: [a] }
  - { name: bank, match: { host: bank.example }, servers: [b] }
`,
  });
  ic = await startInterceptorCli(join(dir, 'site.yaml'));
});

after(async () => {
  await ic?.stop();
  await Promise.all([a?.close(), b?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One request over a raw socket: `target` and `headers` are sent byte for byte (latin1). */
const raw = (target: string, headers = 'Host: shop.example\r\n') =>
  rawRequest(ic.port, `GET ${target} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`);

const HEADER_NAMES = new Set([
  'location',
  'content-length',
  'content-type',
  'cache-control',
  'retry-after',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'x-switchyard-reason',
]);

/**
 * Every header line is one name and one printable value; nothing a client sent became a
 * header of its own; a Location is printable ASCII without spaces and points to a
 * configured server. Returns the Location, if any.
 */
function assertClean(r: RawAnswer, what: string): string | undefined {
  assert.ok(r.status > 0, `${what}: no HTTP answer: ${JSON.stringify(r.raw)}`);
  for (const line of r.headerLines) {
    assert.match(line, /^[A-Za-z0-9-]+: [\x20-\x7e]*$/, `${what}: header line ${JSON.stringify(line)}`);
    const name = line.slice(0, line.indexOf(':')).toLowerCase();
    assert.ok(HEADER_NAMES.has(name), `${what}: unexpected header ${JSON.stringify(line)}`);
  }
  const locations = r.headers.get('location') ?? [];
  assert.ok(locations.length <= 1, `${what}: several Locations`);
  const location = locations[0];
  if (location !== undefined) {
    assert.match(location, /^[\x21-\x7e]+$/, `${what}: Location ${JSON.stringify(location)}`);
    const origin = new URL(location).origin;
    assert.ok([a.url, b.url].includes(origin), `${what}: Location ${location} is not a configured server`);
  }
  return location;
}

test('a header block larger than maxHeaderBytes gets 431 and the connection is closed', async () => {
  const r = await raw('/', `Host: shop.example\r\nX-Big: ${'x'.repeat(MAX_HEADER_BYTES * 2)}\r\n`);
  assert.equal(r.status, 431);
  assertClean(r, '431');
  // Many small headers add up the same way.
  const many = Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'y'.repeat(20)}\r\n`).join('');
  assert.equal((await raw('/', `Host: shop.example\r\n${many}`)).status, 431);
});

test('a request target longer than maxUrlLength gets 414; one at the limit is served', async () => {
  const over = await raw(`/${'a'.repeat(MAX_URL)}`);
  assert.equal(over.status, 414);
  assert.equal(over.body, 'request target too long\n');
  assertClean(over, '414');
  const at = await raw(`/${'a'.repeat(MAX_URL - 1)}`);
  assert.equal(at.status, 302);
  assert.equal(assertClean(at, 'at the limit'), `${a.url}/${'a'.repeat(MAX_URL - 1)}`);
});

test('CR, LF, controls and spaces in the target never reach a header; percent-encoded ones stay encoded', async () => {
  const rawTargets = [
    '/a\rb',
    '/a\nX-Injected: yes',
    '/a\r\nX-Injected: yes',
    '/a\r\nSet-Cookie: sid=evil\r\n',
    '/a\x00b',
    '/a\x01b',
    '/a\x7fb',
    '/a\x1bb',
    '/a\x0bb',
    '/a b',
    '/a\tb',
    '/caf\xc3\xa9',
    '/\xff\xfe',
  ];
  for (const target of rawTargets) {
    const r = await raw(target);
    assertClean(r, JSON.stringify(target));
    assert.ok(r.status === 400 || r.status === 302, `${JSON.stringify(target)}: ${r.status}`);
  }
  const encoded = [
    '/a%0d%0aX-Injected:%20yes',
    '/a%0D%0ASet-Cookie:%20sid=evil?next=%0d%0aLocation:%20http://evil.example/',
    '/%00%01%7f%20%09',
    '/caf%C3%A9?q=%E2%80%A8',
  ];
  for (const target of encoded) {
    const r = await raw(target);
    assert.equal(r.status, 302, target);
    assert.equal(assertClean(r, target), a.url + target, 'the target is passed on untouched');
  }
});

test('absolute-form for another host is refused with 400; for our own host it is reduced', async () => {
  for (const target of [
    'http://evil.example/',
    'https://evil.example/x?y=1',
    'http://shop.example@evil.example/',
    'ftp://shop.example/',
    '*',
    '@evil.example',
    'evil.example:80',
  ]) {
    const r = await raw(target);
    assert.equal(r.status, 400, target);
    assertClean(r, target);
    assert.equal(r.headers.get('location'), undefined);
  }
  const own = await raw('http://shop.example//evil.example/x?y=1');
  assert.equal(own.status, 302);
  assert.equal(assertClean(own, 'own absolute-form'), `${a.url}/%2Fevil.example/x?y=1`);
});

test('"//evil.example" and its cousins never yield a Location that leaves the configured servers', async () => {
  for (const target of [
    '//evil.example/x',
    '///evil.example',
    '//evil.example:443/',
    '/\\evil.example',
    '/\\/evil.example',
    '//%65vil.example',
    '/%2F%2Fevil.example',
    '/.//evil.example',
  ]) {
    const r = await raw(target);
    const location = assertClean(r, target);
    assert.ok(location, `${target}: ${r.status}`);
    const path = location.slice(a.url.length);
    assert.ok(location.startsWith(`${a.url}/`) && !path.startsWith('//'), `${target} → ${location}`);
    assert.notEqual(new URL(location).hostname, 'evil.example');
  }
});

test('Host spoofing never changes the origin of the Location', async () => {
  const hosts = [
    'evil.example',
    'evil.example:443',
    'EVIL.example.',
    'a@evil.example',
    'evil.example/x',
    '[::1]',
    '',
    '127.0.0.1',
    'bank.example.evil.example',
  ];
  for (const host of hosts) {
    const r = await raw(
      '/x?y=1',
      `Host: ${host}\r\nX-Forwarded-Host: evil.example\r\nForwarded: host=evil.example;proto=https\r\n`,
    );
    assert.equal(r.status, 302, JSON.stringify(host));
    assert.equal(assertClean(r, `Host ${host}`), `${a.url}/x?y=1`);
  }
  // Only the configured host rule picks another application, and still a configured server.
  const bank = await raw('/x', 'Host: BANK.example:8443\r\n');
  assert.equal(assertClean(bank, 'bank'), `${b.url}/x`);
  // HTTP/1.0 without a Host at all.
  const old = await rawRequest(ic.port, 'GET /old HTTP/1.0\r\n\r\n');
  assert.equal(assertClean(old, 'HTTP/1.0'), `${a.url}/old`);
  // Two Host headers are refused (RFC 9112 section 3.2): a classic smuggling trick.
  const twice = await raw('/two', 'Host: evil.example\r\nHost: bank.example\r\n');
  assert.equal(twice.status, 400);
  assert.equal(assertClean(twice, 'two Hosts'), undefined);
});

test('a client that never finishes its headers is cut off after headersTimeout', async () => {
  const stalled = await rawRequest(ic.port, 'GET / HTTP/1.1\r\nHost: shop.example\r\nX-Slow: 1', 5000);
  assert.ok(stalled.closedAfterMs >= 400, `closed after ${stalled.closedAfterMs} ms, before the time-out`);
  assert.ok(stalled.closedAfterMs < 3000, `closed only after ${stalled.closedAfterMs} ms`);
  assert.ok(stalled.status === 408 || stalled.raw === '', JSON.stringify(stalled.raw));

  // A trickle of header bytes (slowloris) does not restart the clock.
  const started = Date.now();
  const socket = connect(ic.port, '127.0.0.1');
  socket.on('error', () => {});
  const drip = setInterval(() => socket.writable && socket.write('X-Drip: 1\r\n'), 50);
  try {
    socket.write('GET / HTTP/1.1\r\nHost: shop.example\r\n');
    // Others are served meanwhile.
    assert.equal((await httpRequest(`${ic.url}/meanwhile`)).status, 302);
    await eventually(
      () => socket.destroyed || socket.readableEnded,
      'the dripping client to be cut off',
      3000,
    );
  } finally {
    clearInterval(drip);
    socket.destroy();
  }
  assert.ok(Date.now() - started < 3000);
});

test('garbage gets 400 and the interceptor keeps serving', async () => {
  const garbage: Array<string | Buffer> = [
    '\x00\x01\x02garbage\r\n\r\n',
    'NOT HTTP AT ALL\r\n\r\n',
    'GET / HTTP/9.9\r\nHost: x\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\n: no name\r\n\r\n',
    // A TLS ClientHello sent to the plain listener.
    Buffer.from('16030100a5010000a10303', 'hex'),
    Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 7919 + 13) % 256)),
  ];
  for (const g of garbage) {
    const r = await rawRequest(ic.port, Buffer.isBuffer(g) ? Buffer.concat([g, Buffer.from('\r\n\r\n')]) : g);
    assert.equal(r.status, 400, JSON.stringify(String(g).slice(0, 40)));
    assertClean(r, 'garbage');
  }
  const fine = await httpRequest(`${ic.url}/still/here?x=1`);
  assert.equal(fine.status, 302);
  assert.equal(fine.headers.location, `${a.url}/still/here?x=1`);
  assert.equal(ic.child.exitCode, null);
});

test('a client that pipelines answers it never reads is cut off and gives its slots back', async () => {
  const refusals = async () =>
    metricValue(
      await (await fetch(`${ic.adminUrl}/metrics`)).text(),
      'switchyard_interceptor_refusals_total',
      {
        reason: 'pipelined',
      },
    );
  const before = await refusals();
  // 20,000 requests in a few writes, and not one byte read: far more answers than the
  // sockets' buffers hold, so they queue in the interceptor, each holding a slot.
  const s = connect(Number(new URL(ic.url).port), '127.0.0.1');
  s.pause();
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  const one = 'GET /p HTTP/1.1\r\nHost: shop.example\r\n\r\n';
  for (let i = 0; i < 20; i++) s.write(one.repeat(1000));
  try {
    // The interceptor cuts it (a paused socket does not see its close: the counter says it).
    await eventually(async () => (await refusals()) > before, 'the connection to be cut off', 15_000);
  } finally {
    s.destroy();
  }
  // Cut once: the requests already parsed from its last read are dropped, not each refused
  // (and each given a slot) in turn.
  assert.equal((await refusals()) - before, 1);
  // The slots came back: the shop still answers (maxConcurrent is not exhausted).
  for (let i = 0; i < 5; i++)
    assert.equal((await httpRequest(`${ic.url}/after${i}`, { method: 'GET' })).status, 302);
});

test('/metrics on the admin address counts refusals by reason', async () => {
  const refusals = async () => {
    const text = await ic.metrics();
    return (reason: string) => metricValue(text, 'switchyard_interceptor_refusals_total', { reason });
  };
  const before = await refusals();
  assert.equal((await raw('/', `Host: x\r\nX-Big: ${'x'.repeat(MAX_HEADER_BYTES * 2)}\r\n`)).status, 431);
  assert.equal((await raw(`/${'u'.repeat(MAX_URL + 10)}`)).status, 414);
  assert.equal((await raw('http://evil.example/')).status, 400);
  assert.equal((await rawRequest(ic.port, 'NOT HTTP\r\n\r\n')).status, 400);
  const after = await refusals();
  assert.equal(after('header-too-large') - before('header-too-large'), 1);
  assert.equal(after('uri-too-long') - before('uri-too-long'), 1);
  assert.equal(after('bad-request') - before('bad-request'), 1);
  assert.ok(after('client-error') - before('client-error') >= 1);
  // The earlier tests were counted too.
  assert.ok(after('client-error') >= 10);
  // /metrics needs no token, but everything else on the admin address does.
  const status = await fetch(`${ic.adminUrl}/status`);
  assert.equal(status.status, 401);
  // The refusal says where the token is (never what it is).
  const said = ((await status.json()) as { error: { message: string } }).error.message;
  assert.match(said, /missing or wrong admin token: .* which is in (the SWITCHYARD_TOKEN variable|\/.+)/);
});
