import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, fetch } from 'undici';
import WebSocket from 'ws';
import { eventually, runCli, TEST_TOKEN } from '../helpers.js';
import { type RunningSite, serverStatus, startSite, status } from './site.js';

/**
 * D53: a manager told to speak TLS (as one listening anywhere but loopback does by default)
 * makes a site CA and its certificate on first start; the agent, the interceptor and ctl check
 * it against that CA, and nothing reaches it in clear.
 */
describe('links over TLS', { timeout: 120_000 }, () => {
  let site: RunningSite;
  before(async () => {
    site = await startSite({ servers: [{ name: 'web-a', slots: 2, serviceTime: 2 }], manager: '  tls: {}' });
  });
  after(() => site?.stop());

  const tlsDir = () => join(site.dir, '.switchyard', 'tls');

  test('the manager makes a site CA and a certificate, and every component links over wss', async () => {
    assert.match(
      site.manager.output(),
      /manager listening on https:\/\/127\.0\.0\.1:\d+ \(components dial wss:\/\/127\.0\.0\.1:\d+\/link\)/,
    );
    for (const f of ['ca-key.pem', 'manager-key.pem'])
      assert.equal(statSync(join(tlsDir(), f)).mode & 0o777, 0o600, `${f} is its owner's only`);
    // Figures travel agent → manager → interceptor, both over TLS.
    await eventually(
      async () => serverStatus(await status(site.ic), 'web-a').manager !== undefined,
      "the interceptor to hold the manager's figures for web-a",
      10_000,
    );
    const ca = readFileSync(join(tlsDir(), 'ca.pem'), 'utf8');
    const res = await fetch(`https://127.0.0.1:${site.managerPort}/healthz`, {
      dispatcher: new Agent({ connect: { ca } }),
    });
    assert.equal(res.status, 200);
    // ctl finds the site CA beside the site file and reaches the manager's admin routes.
    const r = await runCli(['ctl', '--config', site.file, '--json', 'manager'], {
      SWITCHYARD_TOKEN: TEST_TOKEN,
    });
    assert.equal(r.code, 0, r.stderr);
  });

  test('nothing in clear, and no certificate but the site CA is trusted', async () => {
    // Plain HTTP to the TLS port gets no answer of the manager's.
    const plain = await fetch(`http://127.0.0.1:${site.managerPort}/healthz`).then(
      (r) => `status ${r.status}`,
      (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message,
    );
    assert.doesNotMatch(plain, /status 200/);
    // A WebSocket in clear never gets a challenge.
    const ws = new WebSocket(`ws://127.0.0.1:${site.managerPort}/link`);
    const got = await new Promise<string>((resolve) => {
      ws.on('message', () => resolve('a message'));
      ws.on('error', (e) => resolve(`error ${e.message}`));
      ws.on('close', () => resolve('closed'));
    });
    ws.terminate();
    assert.notEqual(got, 'a message');
    // Without the site CA the certificate does not check out (Node's own store does not have it).
    const untrusted = await fetch(`https://127.0.0.1:${site.managerPort}/healthz`).then(
      () => 'trusted',
      (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message,
    );
    assert.match(untrusted, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT/);
    // Nor under a name it was not made for.
    const ca = readFileSync(join(tlsDir(), 'ca.pem'), 'utf8');
    const wrongName = await fetch(`https://127.0.0.1:${site.managerPort}/healthz`, {
      dispatcher: new Agent({ connect: { ca, servername: 'manager.evil.example' } }),
    }).then(
      () => 'trusted',
      (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message,
    );
    assert.match(wrongName, /ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  test('a restarted manager keeps its certificate, and components link again', async () => {
    const before = readFileSync(join(tlsDir(), 'manager.pem'), 'utf8');
    await site.manager.stop('SIGTERM');
    site.manager = await site.startManager();
    assert.equal(readFileSync(join(tlsDir(), 'manager.pem'), 'utf8'), before);
    await site.agent.waitFor(
      /connected to the manager[\s\S]*connected to the manager/,
      'the agent to link again',
    );
  });
});
