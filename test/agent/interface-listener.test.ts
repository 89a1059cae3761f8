import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InterfaceListener } from '../../src/agent/interface-listener.js';
import { createInterface } from '../../src/interface/index.js';
import { ensureLocalKey } from '../../src/protocol/local-proof.js';
import { encodeRecords } from '../../src/protocol/local-record.js';
import type { RequestRecord } from '../../src/protocol/messages.js';
import { eventually, quiet, tempDir } from '../helpers.js';

test('the agent hears its interfaces: records, figures, commands, overflow and departure', async (t) => {
  const path = join(tmpdir(), `sy-listener-${process.pid}-${Date.now()}.sock`);
  const records: RequestRecord[] = [];
  const gone: string[] = [];
  const l = new InterfaceListener({
    path,
    log: quiet,
    onRecords: (_s, rs) => records.push(...rs),
    onOverflow: () => {},
    onGone: (s) => gone.push(s),
  });
  await l.start();
  t.after(() => l.close());
  const iface = createInterface({ server: 'web-a', slots: 3, markKey: 's', agentSocket: path });
  t.after(() => iface.close());
  await eventually(() => l.session('web-a'), 'the interface to say hello');
  const s = l.session('web-a')!;
  assert.equal(s.pid, process.pid);
  assert.deepEqual(await s.command({ op: 'echo', text: 'hi' }), { ok: true, data: 'hi', error: undefined });
  assert.equal((await s.command({ op: 'redirect', target: 'http://127.0.0.1:1', lease: 60_000 })).ok, true);
  assert.equal(iface.redirectTarget, 'http://127.0.0.1:1');
  const f = await s.figures();
  assert.equal(f.figures.slots, 3);
  iface.channel!.report({
    server: 'web-a',
    start: 1,
    method: 'GET',
    path: '/x',
    status: 200,
    queueWait: 0,
    serviceTime: 1,
  });
  await eventually(() => records.length === 1, 'the record');
  iface.close();
  await eventually(() => gone.includes('web-a'), 'the departure');
  assert.equal(l.session('web-a'), undefined);
});

test('bad record lines are refused and counted, never passed on, and the session goes on', async (t) => {
  const path = join(tmpdir(), `sy-listener-${process.pid}-${Date.now()}-b.sock`);
  const records: RequestRecord[] = [];
  const l = new InterfaceListener({
    path,
    log: quiet,
    onRecords: (_s, rs) => records.push(...rs),
    onOverflow: () => {},
  });
  await l.start();
  t.after(() => l.close());
  const s = connect(path);
  t.after(() => s.destroy());
  const ok = {
    server: 'web-a',
    start: 1,
    method: 'GET',
    path: '/ok',
    status: 200,
    queueWait: 0,
    serviceTime: 1,
  };
  const good = encodeRecords([ok]);
  // A batch with one bad record (status 2000) between two good ones: only that one is lost.
  const mixed = encodeRecords([ok, { ...ok, status: 2000 }, { ...ok, path: '/ok2' }]);
  // Records before hello, then after it: broken JSON, a batch of the wrong shape, a mixed
  // batch, a line too long, a good one.
  s.write(`${good}\n{"t":"hello","server":"web-a","pid":1}\n[1,"GET"\n[1,[],[0],[0]]\n${mixed}\n`);
  s.write(`["${'x'.repeat(70_000)}"]\n${good}\n`);
  await eventually(() => records.length === 3, 'the good records');
  assert.deepEqual(
    records.map((r) => r.path),
    ['/ok', '/ok2', '/ok'],
  );
  assert.deepEqual(records[0], ok);
  assert.equal(l.invalid, 5);
  assert.ok(l.session('web-a'), 'the session is still there');
});

test('hostile lines: one without end is dropped at the bound, a huge record count is refused, the session goes on', async (t) => {
  const path = join(tmpdir(), `sy-listener-${process.pid}-${Date.now()}-h.sock`);
  const records: RequestRecord[] = [];
  const l = new InterfaceListener({
    path,
    log: quiet,
    onRecords: (_s, rs) => records.push(...rs),
    onOverflow: () => {},
  });
  await l.start();
  t.after(() => l.close());
  const s = connect(path);
  t.after(() => s.destroy());
  const ok = {
    server: 'web-a',
    start: 1,
    method: 'GET',
    path: '/ok',
    status: 200,
    queueWait: 0,
    serviceTime: 1,
  };
  s.write('{"t":"hello","server":"web-a","pid":1}\n');
  // 8 MiB with no newline: the agent keeps none of it.
  const chunk = `[${'1,'.repeat(32 * 1024)}`;
  for (let i = 0; i < 128; i++) s.write(chunk);
  s.write('\n');
  // A 60-byte line asking for 50,000 records of one value each.
  const bomb = JSON.parse(encodeRecords([ok])) as unknown[];
  bomb[0] = 50_000;
  s.write(`${JSON.stringify(bomb)}\n${encodeRecords([ok])}\n`);
  await eventually(() => records.length === 1, 'the good record after the hostile lines');
  assert.ok(l.invalid >= 2, `invalid ${l.invalid}`);
  assert.ok(process.memoryUsage().heapUsed < 512 * 1024 * 1024);
});

test('a second agent on a socket a live agent listens on is refused, and the live one keeps it', async (t) => {
  const path = join(tmpdir(), `sy-listener-${process.pid}-${Date.now()}-2.sock`);
  const records: RequestRecord[] = [];
  const live = new InterfaceListener({
    path,
    log: quiet,
    onRecords: (_s, rs) => records.push(...rs),
    onOverflow: () => {},
  });
  await live.start();
  t.after(() => live.close());
  const second = new InterfaceListener({ path, log: quiet, onRecords: () => {}, onOverflow: () => {} });
  await assert.rejects(second.start(), /another agent is listening on .*; stop it first/);
  const s = connect(path);
  t.after(() => s.destroy());
  const ok = {
    server: 'web-a',
    start: 1,
    method: 'GET',
    path: '/ok',
    status: 200,
    queueWait: 0,
    serviceTime: 1,
  };
  s.write(`{"t":"hello","server":"web-a","pid":1}\n${encodeRecords([ok])}\n`);
  await eventually(() => records.length === 1, 'the live agent to still get records');
});

test("a process without the agent's key cannot speak for a server; an interface that can read the key can", async (t) => {
  const dir = tempDir();
  const path = join(dir, 'agent.sock');
  const key = ensureLocalKey(`${path}.key`);
  assert.equal(statSync(`${path}.key`).mode & 0o777, 0o640);
  const hellos: string[] = [];
  const l = new InterfaceListener({
    path,
    key,
    keyFile: `${path}.key`,
    log: quiet,
    onRecords: () => {},
    onOverflow: () => {},
    onHello: (s) => hellos.push(`${s.server}:${s.pid}`),
  });
  await l.start();
  t.after(() => l.close());
  assert.equal(statSync(path).mode & 0o777, 0o660, 'only the agent user and group may dial');
  // A forger: says hello as web-a with no proof, and with a made-up one.
  for (const proof of [undefined, 'A'.repeat(43)]) {
    const s = connect(path);
    s.resume(); // read (the challenge), so the agent's close is seen
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.write(`${JSON.stringify({ t: 'hello', server: 'web-a', pid: 1, ...(proof ? { proof } : {}) })}\n`);
    await closed;
  }
  assert.equal(l.refusedHellos, 2);
  assert.equal(l.session('web-a'), undefined);
  // The real interface reads the key beside the socket and is taken.
  const iface = createInterface({ server: 'web-a', slots: 2, markKey: 's', agentSocket: path });
  t.after(() => iface.close());
  await eventually(() => hellos.length === 1, 'the real interface to be taken');
  assert.equal(hellos[0], `web-a:${process.pid}`);
});
