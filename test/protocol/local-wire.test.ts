import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLine, toInterfaceSchema } from '../../src/protocol/local.js';
import { checkCommand } from '../../src/protocol/local-command.js';
import { decodeRecord, encodeRecord } from '../../src/protocol/local-record.js';
import { type RequestRecord, requestRecordSchema } from '../../src/protocol/messages.js';

const full: RequestRecord = {
  server: 'web-a',
  start: 1_795_000_000_123,
  method: 'POST',
  path: '/cart/"quoted"\\n',
  status: 201,
  queueWait: 1.5,
  serviceTime: 12.345,
  client: '127.0.0.1:40000',
  query: 'a=1&b=ü',
  protocol: 'HTTP/1.1',
  bytes: 2048,
  contentType: 'text/html; charset=utf-8',
  userAgent: 'Mozilla/5.0\t(X11)',
  referrer: 'http://example.test/',
  cookies: true,
  redirectedTo: 'http://127.0.0.1:8080/cart?sy_from=web-a~1~x',
  aborted: false,
};

test('a compact record round-trips, times to the microsecond, and satisfies the record schema', () => {
  const back = decodeRecord(JSON.parse(encodeRecord(full)), 'web-a');
  assert.ok(back.ok);
  assert.deepEqual(back.value, full);
  assert.ok(requestRecordSchema.safeParse(back.value).success);
  const minimal = {
    server: 'web-b',
    start: 1,
    method: 'GET',
    path: '/',
    status: 200,
    queueWait: 0.0004,
    serviceTime: 2,
  };
  const m = decodeRecord(JSON.parse(encodeRecord(minimal)), 'web-b');
  assert.ok(m.ok);
  assert.deepEqual(m.value, { ...minimal, queueWait: 0 }, 'absent fields stay absent; 0.4 µs rounds to 0');
});

test('bad compact records are refused with the field named, within the schema limits', () => {
  const line = JSON.parse(encodeRecord(full)) as unknown[];
  const bad = (i: number, v: unknown) => {
    const a = [...line];
    a[i] = v;
    const r = decodeRecord(a, 'web-a');
    return r.ok ? 'accepted' : r.error;
  };
  assert.equal(bad(0, 'soon'), 'record.start: invalid');
  assert.equal(bad(1, 'X'.repeat(17)), 'record.method: invalid');
  assert.equal(bad(2, null), 'record.path: invalid');
  assert.equal(bad(3, 1000), 'record.status: invalid');
  assert.equal(bad(4, -1), 'record.queueWait: invalid');
  assert.equal(bad(5, 1.5), 'record.serviceTime: invalid', 'microseconds are whole');
  assert.equal(bad(9, -3), 'record.bytes: invalid');
  assert.equal(bad(11, 'u'.repeat(513)), 'record.userAgent: invalid');
  assert.equal(bad(13, 'yes'), 'record.cookies: invalid');
  assert.equal(decodeRecord({ path: '/' }, 'web-a').ok, false);
  assert.equal(decodeRecord([1, 'GET'], 'web-a').ok, false);
  assert.equal(bad(7, null), 'accepted', 'an optional field may be null');
});

test("the interface's own command check answers as the declared schema does", () => {
  const cases: unknown[] = [
    { op: 'figures', id: 1 },
    { op: 'figures', id: -1 },
    { op: 'figures', id: 1.5 },
    { op: 'figures' },
    { op: 'figures', id: 1, extra: true },
    { op: 'redirect', id: 2, target: 'http://127.0.0.1:8080' },
    { op: 'redirect', id: 2, target: 'https://lb.example/' },
    { op: 'redirect', id: 2, target: 'ftp://lb.example/' },
    { op: 'redirect', id: 2, target: 'not a url' },
    { op: 'redirect', id: 2, target: `http://x/${'a'.repeat(2100)}` },
    { op: 'cancel-redirect', id: 3 },
    { op: 'set-rules', id: 4, mode: 'stateful', pages: ['/cart/*'] },
    { op: 'set-rules', id: 4, mode: 'sticky', pages: [] },
    { op: 'set-rules', id: 4, mode: 'fixed', pages: [1] },
    { op: 'set-rules', id: 4, mode: 'fixed', pages: 'x' },
    { op: 'set-mask', id: 5, mask: 1023 },
    { op: 'set-mask', id: 5, mask: 2 ** 32 },
    { op: 'set-mask', id: 5, mask: -1 },
    { op: 'echo', id: 6, text: 'hi' },
    { op: 'echo', id: 6, text: 'x'.repeat(1001) },
    { op: 'echo', id: 6, text: 7 },
    { op: 'pid', id: 7 },
    { op: 'start-server', id: 9 },
    { op: 'stop-server', id: 10 },
    { op: 'stop-server', id: 10, force: true },
    { op: 'launch', id: 8 },
    { op: 7, id: 8 },
    { op: 'toString', id: 8 },
    [],
    null,
    'pid',
  ];
  for (const c of cases) {
    const line = JSON.stringify(c);
    const mine = checkCommand(line);
    const declared = parseLine(toInterfaceSchema, line);
    assert.equal(mine.ok, declared.ok, `${line.slice(0, 80)}: ${mine.ok ? 'accepted' : mine.error}`);
    if (mine.ok && declared.ok) assert.deepEqual(mine.value, declared.value);
  }
  assert.deepEqual(checkCommand('{"op":'), { ok: false, error: 'not JSON' });
  assert.deepEqual(checkCommand('{"op":"pid"}'), { ok: false, error: 'id: expected a whole number ≥ 0' });
});
