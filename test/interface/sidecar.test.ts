import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InterfaceListener } from '../../src/agent/interface-listener.js';
import { startDemoServer } from '../../src/demo/server.js';
import { createInterface } from '../../src/interface/index.js';
import { startSidecar } from '../../src/interface/sidecar.js';
import { eventually, httpRequest, quiet } from '../helpers.js';
import { freePorts } from '../system/site.js';

test('the sidecar passes requests and bodies to the server behind, with its queue in front', async (t) => {
  const web = await startDemoServer({ port: 0, name: 'behind' });
  const sc = await startSidecar({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: web.url,
    iface: { server: 'web-a', slots: 2, markKey: 's', pages: { mode: 'stateful', pages: ['/cart/*'] } },
    log: quiet,
  });
  t.after(async () => {
    await sc.close();
    await web.close();
  });
  const get = await httpRequest(`${sc.url}/hello?x=1`);
  assert.equal(get.status, 200);
  assert.equal(get.headers['x-served-by'], 'behind');
  assert.match(get.body, /path \/hello\?x=1/);
  const post = await httpRequest(`${sc.url}/form`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'item=42&qty=2',
  });
  assert.equal(post.status, 200);
  assert.match(post.body, /item=42&qty=2/);
  assert.equal(sc.iface.figures().requests, 2);

  sc.iface.redirectTo('http://127.0.0.1:1');
  assert.equal((await httpRequest(`${sc.url}/page`)).status, 302);
  assert.equal((await httpRequest(`${sc.url}/cart/1`)).status, 200);
});

test('when the server behind is down the sidecar answers 502 and keeps running', async (t) => {
  const web = await startDemoServer({ port: 0, name: 'gone' });
  const upstream = web.url;
  await web.close();
  const sc = await startSidecar({
    listen: { host: '127.0.0.1', port: 0 },
    upstream,
    iface: { server: 'web-a', slots: 2, markKey: 's' },
    log: quiet,
  });
  t.after(() => sc.close());
  const r = await httpRequest(`${sc.url}/x`);
  assert.equal(r.status, 502);
  assert.equal(sc.iface.queue.inService, 0);
  assert.equal((await httpRequest(`${sc.url}/y`)).status, 502);
});

test('a sidecar given a command runs that web server, and stops and starts it on the agent’s command', async (t) => {
  const [port] = await freePorts(1);
  const path = join(tmpdir(), `sy-sidecar-${process.pid}-${Date.now()}.sock`);
  const listener = new InterfaceListener({ path, log: quiet, onRecords: () => {}, onOverflow: () => {} });
  await listener.start();
  t.after(() => listener.close());
  // A real web server process: a few lines of node:http, run by the sidecar itself.
  const program = `require('node:http').createServer((q, s) => s.end('from ' + process.pid)).listen(${port}, '127.0.0.1')`;
  const sc = await startSidecar({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: `http://127.0.0.1:${port}`,
    iface: { server: 'web-a', slots: 2, markKey: 's' },
    agentSocket: path,
    command: [process.execPath, '-e', program],
    log: quiet,
  });
  t.after(() => sc.close());
  const first = sc.serverProcess!.pid!;
  const up = () =>
    eventually(async () => {
      const r = await httpRequest(`${sc.url}/`);
      return r.status === 200 ? r.body : undefined;
    }, 'the web server behind to answer');
  assert.equal(await up(), `from ${first}`);

  const session = await eventually(() => listener.session('web-a'), 'the sidecar to say hello');
  assert.deepEqual(await session.command({ op: 'stop-server' }, 15_000), {
    ok: true,
    data: undefined,
    error: undefined,
  });
  assert.throws(() => process.kill(first, 0), /ESRCH/, 'the process is gone');
  assert.equal((await httpRequest(`${sc.url}/`)).status, 502);

  const started = await session.command({ op: 'start-server' }, 15_000);
  assert.equal(started.ok, true, started.error);
  const second = (started.data as { pid: number }).pid;
  assert.notEqual(second, first);
  assert.equal(await up(), `from ${second}`);

  await sc.close();
  assert.throws(() => process.kill(second, 0), /ESRCH/, 'stopping the sidecar stops its web server');
});

test('an interface that runs no web server says so when asked to start or stop one', async (t) => {
  const path = join(tmpdir(), `sy-sidecar-${process.pid}-${Date.now()}-b.sock`);
  const listener = new InterfaceListener({ path, log: quiet, onRecords: () => {}, onOverflow: () => {} });
  await listener.start();
  t.after(() => listener.close());
  const iface = createInterface({ server: 'web-b', slots: 1, markKey: 's', agentSocket: path });
  t.after(() => iface.close());
  const session = await eventually(() => listener.session('web-b'), 'the interface to say hello');
  const r = await session.command({ op: 'stop-server' });
  assert.equal(r.ok, false);
  assert.match(r.error!, /runs no web server process/);
});
