import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestHeaders, responseHeaders } from '../../src/gateway/forward-headers.js';

const facts = {
  client: '10.0.0.7',
  trusted: false,
  secure: false,
  host: 'shop.example',
  requestId: 'new-id',
};
const asMap = (flat: string[]) => {
  const m = new Map<string, string[]>();
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!.toLowerCase();
    m.set(k, [...(m.get(k) ?? []), flat[i + 1]!]);
  }
  return m;
};

test('hop-by-hop fields, and every field Connection names, stay on their hop (RFC 9110 §7.6.1)', () => {
  const { headers } = requestHeaders(
    [
      'Host',
      'shop.example',
      'Connection',
      'keep-alive, X-Trace',
      'Connection',
      'Upgrade',
      'X-Trace',
      'secret',
      'Keep-Alive',
      'timeout=5',
      'TE',
      'trailers',
      'Transfer-Encoding',
      'chunked',
      'Upgrade',
      'h2c',
      'Proxy-Connection',
      'keep-alive',
      'Expect',
      '100-continue',
      'Accept',
      'text/html',
      'Set-Cookie-Like',
      'a=1',
    ],
    facts,
  );
  const m = asMap(headers);
  for (const gone of [
    'connection',
    'x-trace',
    'keep-alive',
    'te',
    'transfer-encoding',
    'upgrade',
    'proxy-connection',
    'expect',
  ])
    assert.equal(m.has(gone), false, gone);
  assert.deepEqual(m.get('accept'), ['text/html']);
  assert.deepEqual(m.get('host'), ['shop.example']);
  // Order and case of what passes are kept.
  assert.equal(headers[0], 'Host');
});

test('forwarding fields from a client that is no configured proxy are replaced, from a trusted one added to (D5)', () => {
  const raw = [
    'Host',
    'shop.example',
    'X-Forwarded-For',
    '6.6.6.6',
    'Forwarded',
    'for=6.6.6.6',
    'X-Forwarded-Proto',
    'https',
    'Via',
    '1.0 edge',
  ];
  const mine = asMap(requestHeaders(raw, facts).headers);
  assert.deepEqual(mine.get('x-forwarded-for'), ['10.0.0.7']);
  assert.deepEqual(mine.get('forwarded'), ['for=10.0.0.7;proto=http;host=shop.example']);
  assert.deepEqual(mine.get('x-forwarded-proto'), ['http']);
  assert.deepEqual(mine.get('via'), ['1.0 edge, 1.1 switchyard']);
  const proxied = asMap(requestHeaders(raw, { ...facts, trusted: true, secure: true }).headers);
  assert.deepEqual(proxied.get('x-forwarded-for'), ['6.6.6.6, 10.0.0.7']);
  assert.deepEqual(proxied.get('forwarded'), ['for=6.6.6.6, for=10.0.0.7;proto=https;host=shop.example']);
  assert.deepEqual(proxied.get('x-forwarded-proto'), ['https'], "the trusted proxy's scheme stands");
  // IPv6 clients are bracketed and quoted in Forwarded (RFC 7239 §6); mapped IPv4 is plain.
  assert.deepEqual(
    asMap(requestHeaders(['Host', 'h'], { ...facts, client: '::1', host: 'h' }).headers).get('forwarded'),
    ['for="[::1]";proto=http;host=h'],
  );
  assert.deepEqual(
    asMap(requestHeaders(['Host', 'h'], { ...facts, client: '::ffff:10.1.2.3', host: 'h' }).headers).get(
      'x-forwarded-for',
    ),
    ['10.1.2.3'],
  );
});

test('a valid request id is passed on, a missing or odd one replaced', () => {
  assert.equal(requestHeaders(['X-Request-Id', 'abc-123'], facts).requestId, 'abc-123');
  assert.equal(requestHeaders([], facts).requestId, 'new-id');
  assert.equal(requestHeaders(['X-Request-Id', 'bad id\u0001'], facts).requestId, 'new-id');
  assert.equal(requestHeaders(['X-Request-Id', 'x'.repeat(200)], facts).requestId, 'new-id');
  const m = asMap(requestHeaders(['X-Request-Id', 'abc-123', 'X-Request-Id', 'second'], facts).headers);
  assert.deepEqual(m.get('x-request-id'), ['abc-123'], 'one id goes on');
});

test("the server's hop-by-hop fields stop at the gateway; Via names it; repeated fields keep their order", () => {
  const out = responseHeaders([
    Buffer.from('Content-Type'),
    Buffer.from('text/html'),
    Buffer.from('Connection'),
    Buffer.from('close, X-Internal'),
    Buffer.from('X-Internal'),
    Buffer.from('10.0.0.9'),
    Buffer.from('Keep-Alive'),
    Buffer.from('timeout=5'),
    Buffer.from('Transfer-Encoding'),
    Buffer.from('chunked'),
    Buffer.from('Set-Cookie'),
    Buffer.from('a=1'),
    Buffer.from('Set-Cookie'),
    Buffer.from('b=2'),
  ]);
  const m = asMap(out);
  for (const gone of ['connection', 'x-internal', 'keep-alive', 'transfer-encoding'])
    assert.equal(m.has(gone), false, gone);
  assert.deepEqual(m.get('set-cookie'), ['a=1', 'b=2']);
  assert.deepEqual(m.get('via'), ['1.1 switchyard']);
});
