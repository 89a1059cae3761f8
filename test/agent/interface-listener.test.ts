import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InterfaceListener } from '../../src/agent/interface-listener.js';
import { createInterface } from '../../src/interface/index.js';
import type { RequestRecord } from '../../src/protocol/messages.js';
import { eventually, quiet } from '../helpers.js';

test('the agent hears its interfaces: records, figures, commands, overflow and departure', async (t) => {
  const path = join(tmpdir(), `sy-listener-${process.pid}-${Date.now()}.sock`);
  const records: RequestRecord[] = [];
  const gone: string[] = [];
  const l = new InterfaceListener({
    path,
    log: quiet,
    onRecord: (r) => records.push(r),
    onOverflow: () => {},
    onGone: (s) => gone.push(s),
  });
  await l.start();
  t.after(() => l.close());
  const iface = createInterface({ server: 'web-a', slots: 3, secret: 's', agentSocket: path });
  t.after(() => iface.close());
  await eventually(() => l.session('web-a'), 'the interface to say hello');
  const s = l.session('web-a')!;
  assert.equal(s.pid, process.pid);
  assert.deepEqual(await s.command({ op: 'echo', text: 'hi' }), { ok: true, data: 'hi', error: undefined });
  assert.equal((await s.command({ op: 'redirect', target: 'http://127.0.0.1:1' })).ok, true);
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
