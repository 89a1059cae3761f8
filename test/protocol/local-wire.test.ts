import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLine, toInterfaceSchema } from '../../src/protocol/local.js';
import { checkCommand } from '../../src/protocol/local-command.js';
import { decodeBatch, encodeRecords, MAX_LINE_BYTES, RecordBatch } from '../../src/protocol/local-record.js';
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

/** Decodes a batch line as the agent does: the records, and what was refused. */
function decode(json: unknown, server = 'web-a') {
  const records: RequestRecord[] = [];
  const r = decodeBatch(json, server, (rec) => records.push(rec));
  return { ...r, list: records };
}

test('a batch of compact records round-trips, times to the microsecond, and satisfies the record schema', () => {
  const minimal = {
    server: 'web-a',
    start: 1_795_000_000_100,
    method: 'GET',
    path: '/',
    status: 200,
    queueWait: 0.0004,
    serviceTime: 2,
  };
  const line = encodeRecords([full, minimal, { ...full, start: full.start - 5, path: '/other' }]);
  const back = decode(JSON.parse(line));
  assert.equal(back.error, undefined);
  assert.equal(back.records, 3);
  assert.deepEqual(back.list[0], full);
  assert.deepEqual(
    back.list[1],
    { ...minimal, queueWait: 0 },
    'absent fields stay absent; 0.4 µs rounds to 0',
  );
  assert.deepEqual(
    back.list[2],
    { ...full, start: full.start - 5, path: '/other' },
    'a clock that went back',
  );
  for (const r of back.list) assert.ok(requestRecordSchema.safeParse(r).success);
  // The strings that repeat are written once a batch.
  assert.equal(line.split('Mozilla/5.0').length, 2, 'the user agent once');
  assert.equal(line.split('text/html').length, 2, 'the content type once');
});

test('a column whose values are all the same travels as one value', () => {
  const line = JSON.parse(encodeRecords([full, { ...full, path: '/b', status: 404 }])) as unknown[];
  assert.equal(line[0], 2, 'the record count');
  assert.equal(line[3 + 1], 0, 'the method: one index for both');
  assert.deepEqual(line[3 + 2], [full.path, '/b'], 'the paths differ');
  assert.deepEqual(line[3 + 3], [201, 404], 'so do the statuses');
  assert.equal(line[3 + 14], full.redirectedTo);
});

test('a column that varies late holds every record in order, and the next batch starts afresh', () => {
  const b = new RecordBatch();
  const same = [full, full, full].map((r, i) => ({ ...r, start: r.start + i }));
  for (const r of same) b.add(r);
  b.add({ ...full, start: full.start + 3, status: 500, cookies: false });
  const first = JSON.parse(b.take()) as unknown[];
  assert.deepEqual(first[3 + 3], [201, 201, 201, 500], 'the status column, from its fourth record');
  assert.deepEqual(first[3 + 13], [true, true, true, false]);
  assert.deepEqual(first[3 + 0], [0, 1, 2, 3], 'start times after the batch start');
  assert.equal(first[3 + 2], full.path, 'the path never varied');
  assert.equal(decode(first).records, 4);
  // Nothing of the last batch is left: its varied columns are one value again.
  b.add({ ...full, status: 404 });
  b.add({ ...full, status: 404 });
  const second = JSON.parse(b.take()) as unknown[];
  assert.equal(second[0], 2);
  assert.equal(second[3 + 3], 404);
  assert.equal(second[3 + 13], true);
  assert.deepEqual(
    decode(second).list.map((r) => r.status),
    [404, 404],
  );
});

test('a batch filled past what the channel sends at once keeps every record, absent and present values apart', () => {
  // Tools and tests may add without heeding `full`: the batch grows instead of losing records.
  const many: RequestRecord[] = [];
  for (let i = 0; i < 1000; i++) {
    const r: RequestRecord = { ...full, start: full.start + i, status: 200 + (i % 3), path: `/p${i % 7}` };
    if (i % 4 === 0) {
      delete r.cookies;
      delete r.bytes;
      delete r.client;
    }
    if (i % 5 === 0) r.aborted = true;
    many.push(r);
  }
  const b = new RecordBatch();
  for (const r of many) b.add(r);
  const back = decode(JSON.parse(b.take()));
  assert.equal(back.error, undefined);
  assert.equal(back.records, 1000);
  assert.deepEqual(back.list, many);
  assert.equal(b.count, 0, 'taken: the batch is empty again');
  assert.equal(JSON.parse(b.take())[0], 0, 'an empty batch says so');
});

test("a batch says it is full before its line can pass the channel's limit, whatever its records hold", () => {
  // Every string at its limit, new in every record, and made of characters JSON escapes.
  const worst = (i: number): RequestRecord => {
    const str = (n: number) => `${i}`.padEnd(n, i % 2 ? '"' : '\\');
    return {
      ...full,
      // Numbers at their limits too: the start far off the batch's, times of 10^13 µs.
      start: full.start - i * 1e12,
      method: str(16),
      path: str(2048),
      status: 999,
      queueWait: 1e10 - i,
      serviceTime: 1e10 - i,
      client: str(64),
      query: str(2048),
      protocol: str(16),
      bytes: 1e12 - i,
      contentType: str(128),
      userAgent: str(512),
      referrer: str(2048),
      redirectedTo: str(2048),
    };
  };
  // The same with only the strings that go to the string table long.
  const tableOnly = (i: number) => ({ ...worst(i), path: '/', query: undefined, redirectedTo: undefined });
  const everyday = (i: number) => ({ ...full, start: full.start + i, redirectedTo: undefined });
  let everydayFill = 0;
  for (const records of [worst, tableOnly, everyday]) {
    const b = new RecordBatch();
    let n = 0;
    while (!b.full) b.add(records(n++));
    const line = b.take();
    assert.ok(Buffer.byteLength(line) <= MAX_LINE_BYTES, `${n} records: ${Buffer.byteLength(line)} bytes`);
    assert.equal(decode(JSON.parse(line)).records, n);
    if (records === everyday) everydayFill = n;
  }
  // Each batch bears fixed costs (a timer, a JSON call, a write): the bound must not be so
  // tight that everyday records fill a batch long before its timer is up.
  assert.ok(everydayFill >= 250, `everyday records fill a batch at ${everydayFill}`);
});

test('a bad value costs its own record only, named; a batch of the wrong shape is refused whole', () => {
  const line = JSON.parse(encodeRecords([full, full])) as unknown[];
  /** The batch with column `col` of record 1 set to `v`: what the agent says of it. */
  const bad = (col: number, v: unknown) => {
    const a = structuredClone(line);
    const c = a[3 + col];
    const values = Array.isArray(c) ? c : [c, c];
    values[1] = v;
    a[3 + col] = values;
    const r = decode(a);
    return r.invalid === 0 ? 'accepted' : `${r.records} kept, ${r.error}`;
  };
  assert.equal(bad(0, 'soon'), '1 kept, record.start: invalid');
  assert.equal(bad(1, 7), '1 kept, record.method: invalid', 'an index past the string table');
  assert.equal(bad(2, null), '1 kept, record.path: invalid');
  assert.equal(bad(3, 1000), '1 kept, record.status: invalid');
  assert.equal(bad(4, -1), '1 kept, record.queueWait: invalid');
  assert.equal(bad(5, 1.5), '1 kept, record.serviceTime: invalid', 'microseconds are whole');
  assert.equal(bad(9, -3), '1 kept, record.bytes: invalid');
  assert.equal(bad(13, 'yes'), '1 kept, record.cookies: invalid');
  assert.equal(bad(7, null), 'accepted', 'an optional field may be null');
  const longAgent = JSON.parse(encodeRecords([full, { ...full, userAgent: 'u'.repeat(513) }]));
  assert.equal(decode(longAgent).error, 'record.userAgent: invalid');
  const allBad = structuredClone(line);
  allBad[3 + 3] = 'teapot';
  assert.deepEqual(
    [decode(allBad).records, decode(allBad).invalid],
    [0, 2],
    'a bad single value: every record',
  );
  assert.equal(decode({ path: '/' }).error, 'records: not a record batch');
  assert.equal(decode([1, 0, [], 0, 0]).error, 'records: not a record batch');
  assert.equal(decode([-1, ...line.slice(1)]).error, 'records: invalid record count');
  assert.equal(decode([2, 'x', ...line.slice(2)]).error, 'records: invalid batch start');
  assert.equal(decode([2, line[1], [1], ...line.slice(3)]).error, 'records: invalid string table');
  const short = JSON.parse(encodeRecords([full, { ...full, path: '/b' }])) as unknown[];
  (short[3 + 2] as unknown[]).pop();
  assert.equal(decode(short).error, 'records: column path: not as long as the batch');
  assert.equal(decode(short).records, 0);
  // An older interface that sends only the required columns: the rest are absent.
  const old = decode(line.slice(0, 9));
  assert.equal(old.records, 2);
  assert.deepEqual(Object.keys(old.list[0]!), [
    'server',
    'start',
    'method',
    'path',
    'status',
    'queueWait',
    'serviceTime',
  ]);
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
