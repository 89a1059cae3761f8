import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ExplainView, StatusView } from '../../src/interceptor/views.js';
import { freePorts } from '../../src/lab/free-ports.js';
import type { ManagerStatusView } from '../../src/manager/manager.js';
import { GATEWAY_HEADER, gatewayToken } from '../../src/protocol/redirect-mark.js';
import { eventually, httpRequest, type RunningProcess, runCli, startCli, tempDir } from '../helpers.js';

/**
 * The README's load demo, step by step, on `switchyard up` with the shipped quick-start site
 * file (only its ports moved): a steady load on web-a's stateful /cart/1 takes web-a to its
 * maximum level and holds it there, web-a's interface moves stateless pages back to the
 * interceptor while /cart/* stays, the interceptor sends new users to the other servers,
 * and the site is never called swamped while they have room (issue 27, item 5).
 */

const EXAMPLES = join(import.meta.dirname, '../../examples');
/** The README's `wrk -c 40`: forty connections, each sending its next request when answered. */
const CONNECTIONS = 40;

describe('the quick start demo', { timeout: 90_000 }, () => {
  let up: RunningProcess;
  let dir: string;
  let file: string;
  let front: string;
  let webA: string;
  before(async () => {
    const [ic, admin, manager, a, b, c] = await freePorts(6);
    const text = readFileSync(join(EXAMPLES, 'quickstart.yaml'), 'utf8')
      .replace('127.0.0.1:8080', `127.0.0.1:${ic}`)
      .replace('127.0.0.1:8081', `127.0.0.1:${admin}`)
      .replace('127.0.0.1:7070', `127.0.0.1:${manager}`)
      .replace('127.0.0.1:9001', `127.0.0.1:${a}`)
      .replace('127.0.0.1:9002', `127.0.0.1:${b}`)
      .replace('127.0.0.1:9003', `127.0.0.1:${c}`);
    assert.match(text, /thresholds/, 'the quick start sets thresholds for its demo servers');
    dir = tempDir({
      'quickstart.yaml': text,
      'sorry.html': readFileSync(join(EXAMPLES, 'sorry.html'), 'utf8'),
    });
    file = join(dir, 'quickstart.yaml');
    front = `http://127.0.0.1:${ic}`;
    webA = `http://127.0.0.1:${a}`;
    up = startCli(['up', '--config', file, '--data-dir', join(dir, 'data')]);
    await up.waitFor(/switchyard is up/, 'switchyard up to start', 20_000);
    // Figures flowing from every server: the queue choice places users.
    await eventually(
      async () => (await ctl<StatusView>('status')).applications[0]?.choice === 'queue',
      'the queue choice to take over',
      20_000,
    );
  });
  after(async () => {
    // A normal stop (Ctrl-C) logs no error, and what the agent held is stored or kept.
    const before = up?.output().length ?? 0;
    const code = await up?.stop('SIGINT');
    assert.equal(code, 0);
    const tail = up!.output().slice(before);
    assert.doesNotMatch(tail, /"level":50|could not store/, tail);
    assert.match(
      tail,
      /agent stopped; (the manager has everything|\d+ records, events and samples kept in )/,
    );
  });

  async function ctl<T>(...args: string[]): Promise<T> {
    const r = await runCli(['ctl', ...args, '--config', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as T;
  }
  const levelOf = async (server: string) =>
    (await ctl<ManagerStatusView>('manager')).servers.find((s) => s.server === server)?.level;

  test('a steady load on web-a takes it to its maximum level, which holds; stateless pages move, /cart stays', async () => {
    const before = levelEvents(up.output(), 'web-a');
    const load = startLoad(`${webA}/cart/1`, CONNECTIONS, 20_000);
    try {
      await eventually(async () => (await levelOf('web-a')) === 'max', 'web-a at its maximum level', 8_000);
      // Held, not flapping: sampled for three seconds under the same load.
      const end = Date.now() + 3000;
      while (Date.now() < end) assert.equal(await levelOf('web-a'), 'max');
      const events = levelEvents(up.output(), 'web-a').slice(before.length);
      assert.ok(events.length <= 2, `web-a's level events under load: ${events.join(', ')}`);
      assert.ok(!events.includes('normal'), `no fall back while loaded: ${events.join(', ')}`);

      // web-a's interface moves a stateless page back to the interceptor, with a mark ...
      const moved = await httpRequest(`${webA}/`, { method: 'GET' });
      assert.equal(moved.status, 302);
      assert.ok(String(moved.headers.location).startsWith(`${front}/`), String(moved.headers.location));
      // ... and keeps a stateful one.
      const cart = await httpRequest(`${webA}/cart/2`, { method: 'GET' });
      assert.equal(cart.status, 200);
      // The interceptor sends new users elsewhere, and the moved page lands on another server.
      for (let i = 0; i < 10; i++) {
        const r = await httpRequest(`${front}/`, { method: 'GET' });
        assert.equal(r.status, 302);
        assert.ok(!String(r.headers.location).startsWith(webA), `sent to web-a: ${r.headers.location}`);
      }
      const back = await httpRequest(String(moved.headers.location), { method: 'GET' });
      assert.equal(back.status, 302);
      assert.ok(!String(back.headers.location).startsWith(webA), String(back.headers.location));

      // The proxied /api is answered through the gateway, by a server other than web-a ...
      for (let i = 0; i < 5; i++) {
        const r = await httpRequest(`${front}/api/orders/${i}`, { method: 'GET' });
        assert.equal(r.status, 200, r.body);
        assert.notEqual(r.headers['x-served-by'], 'web-a');
        assert.equal(r.headers.via, '1.1 switchyard');
      }
      // The gateway's admission queue reaches the manager, as figures of its own.
      const gw = await eventually(
        async () =>
          (await ctl<ManagerStatusView>('manager')).gateways.find((g) =>
            g.applications.some((a) => a.name === 'api'),
          ),
        "the gateway's queue figures at the manager",
        5000,
      );
      assert.equal(gw.applications.find((a) => a.name === 'api')?.timedOut, 0);
      // ... and web-a's interface never moves a request a gateway carried (it has chosen),
      // which only the site's mark key can vouch for.
      const key = readFileSync(join(dir, '.switchyard', 'mark-key'), 'utf8').trim();
      const carried = await httpRequest(`${webA}/api/x`, {
        method: 'GET',
        headers: { [GATEWAY_HEADER]: gatewayToken(key, Date.now()) },
      });
      assert.equal(carried.status, 200);
      const forged = await httpRequest(`${webA}/api/x`, {
        method: 'GET',
        headers: { [GATEWAY_HEADER]: gatewayToken('not-the-key', Date.now()) },
      });
      assert.equal(forged.status, 302);

      // What status says of it: the manager's level and queue figures, and the choice's view.
      const s = await ctl<StatusView>('status');
      const a = s.servers.find((x) => x.name === 'web-a')!;
      assert.equal(a.manager?.level, 'max');
      assert.ok((a.manager?.queueLength ?? 0) > 10, `queue ${a.manager?.queueLength}`);
      assert.equal(a.manager?.slots, 2);
      const shop = s.applications[0]!;
      assert.equal(shop.choice, 'queue');
      assert.ok(shop.servers.every((x) => x.delayMs !== undefined));
      // explain names the server the queue choice would take now, never web-a.
      const e = await ctl<ExplainView>('explain', '/');
      assert.equal(e.choice, 'queue');
      assert.match(e.outcome, /has the shortest expected delay now/);
      assert.doesNotMatch(e.outcome, new RegExp(`to ${webA}`));
    } finally {
      await load.stop();
    }
    // Two servers sat idle the whole time: the site was never swamped.
    assert.doesNotMatch(up.output(), /is swamped/);
  });

  test('a second up while one runs exits non-zero and leaves the running site alone', async () => {
    const second = await runCli(['up', '--config', file, '--data-dir', join(dir, 'data-2')]);
    assert.equal(second.code, 1, second.stdout.slice(-2000));
    assert.doesNotMatch(second.stdout, /switchyard is up/);
    assert.match(
      second.stderr,
      /^switchyard: up: 127\.0\.0\.1:\d+ is already in use \(another switchyard up\?\); stop that first\n$/,
    );
    // The running site still places users with its servers' figures: its agent kept its socket.
    const r = await httpRequest(`${front}/after-second`, { method: 'GET' });
    assert.equal(r.status, 302);
    await eventually(
      async () => (await ctl<StatusView>('status')).applications[0]?.choice === 'queue',
      'the running site still to have fresh figures',
      5000,
    );
  });
});

/** web-a's level changes in the manager's log, in order. */
function levelEvents(output: string, server: string): string[] {
  const re = new RegExp(
    `"code":"server\\.level\\.(\\w+)"[^\\n]*"source":"${server}"|"source":"${server}"[^\\n]*"code":"server\\.level\\.(\\w+)"`,
    'g',
  );
  return [...output.matchAll(re)].map((m) => m[1] ?? m[2]!);
}

/**
 * A bounded closed-loop load like `wrk -c N`: N connections, each sending its next request
 * as soon as the last is answered, until `stop()` or `maxMs`.
 */
function startLoad(url: string, connections: number, maxMs: number): { stop(): Promise<void> } {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const end = Date.now() + maxMs;
  let stopped = false;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request(url, { agent }, (res) => {
        res.resume();
        res.on('end', resolve);
        res.on('error', () => resolve());
      });
      req.on('error', () => setTimeout(resolve, 50));
      req.end();
    });
  const loops = Array.from({ length: connections }, async () => {
    while (!stopped && Date.now() < end) await one();
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}
