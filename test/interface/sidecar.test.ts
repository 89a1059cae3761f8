import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDemoServer } from '../../src/demo/server.js';
import { startSidecar } from '../../src/interface/sidecar.js';
import { httpRequest, quiet } from '../helpers.js';

test('the sidecar passes requests and bodies to the server behind, with its queue in front', async (t) => {
  const web = await startDemoServer({ port: 0, name: 'behind' });
  const sc = await startSidecar({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: web.url,
    iface: { server: 'web-a', slots: 2, secret: 's', pages: { mode: 'stateful', pages: ['/cart/*'] } },
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
    iface: { server: 'web-a', slots: 2, secret: 's' },
    log: quiet,
  });
  t.after(() => sc.close());
  const r = await httpRequest(`${sc.url}/x`);
  assert.equal(r.status, 502);
  assert.equal(sc.iface.queue.inService, 0);
  assert.equal((await httpRequest(`${sc.url}/y`)).status, 502);
});
