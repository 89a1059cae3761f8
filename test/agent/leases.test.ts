import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { startAgent } from '../../src/agent/agent.js';
import { createInterface } from '../../src/interface/index.js';
import { type ServerLink, startLinkServer } from '../../src/link/link-server.js';
import type { Message } from '../../src/protocol/messages.js';
import { eventually, httpRequest, quiet, tempDir } from '../helpers.js';

// Issue 28 / D45: a redirect holds only for its lease. An interface that reconnects to its
// agent is given only what is left of it (nothing once it ran out), after its page rules; an
// agent that lost its manager brings nothing back. Real sockets throughout: the agent's link
// to a manager (the real handshake, a test manager that sends the commands), its Unix socket,
// and an HTTP server behind the interface. Nothing is faked, not even the clock: every bound
// below is taken from performance.now(), the clock the agent and the interface read too.

const SECRET = 'leases-test-secret-0123456789abcdef';
const TARGET = 'http://127.0.0.1:8080';
/**
 * ms an interface may redirect past `until`: a lease re-sent on hello starts when the
 * interface reads it, a socket's latency after the agent worked out what was left. A full
 * lease re-sent instead would show as hundreds of ms.
 */
const SLACK = 100;
type Command = Extract<Message, { type: 'command' }>['command'];

function site(): string {
  const dir = tempDir({
    secret: SECRET,
    'site.yaml': `
interceptor:
  listen: 127.0.0.1:0
manager:
  listen: 127.0.0.1:0
  dataDir: ./data
  keys: { agent: ./secret, interceptor: ./secret, mark: ./secret }
agents:
  - name: host-1
    socket: ./agent.sock
    servers: [web-a]
    probeInterval: 0
    batch: { age: 50ms }
servers:
  - { name: web-a, url: http://127.0.0.1:1 }
applications:
  - { name: shop, match: { pathPrefix: / }, servers: [web-a], stateful: ['/cart/*'] }
`,
  });
  return join(dir, 'site.yaml');
}

/** A manager as far as the agent can tell: it proves itself, acknowledges batches, sends commands. */
async function testManager() {
  const http: Server = createServer();
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  let agent: ServerLink | undefined;
  let nextId = 1;
  const results = new Map<number, { ok: boolean; error?: string }>();
  const links = startLinkServer({
    server: http,
    keyOf: (role) => (role === 'agent' ? SECRET : undefined),
    heartbeat: 1000,
    storedSeq: () => 0,
    log: quiet,
    handlers: {
      open: (l) => {
        agent = l;
      },
      message: (l, m) => {
        if (m.type === 'batch') l.send({ v: 1, type: 'ack', seq: m.seq });
        if (m.type === 'result') results.set(m.id, m);
      },
      close: (l) => {
        if (agent === l) agent = undefined;
      },
    },
  });
  let stopped = false;
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/link`,
    get connected() {
      return agent !== undefined;
    },
    /** Sends a command to the agent and waits for its result. */
    async command(command: Command) {
      const id = nextId++;
      assert.ok(agent?.send({ v: 1, type: 'command', id, command }), 'the agent is connected');
      return eventually(() => results.get(id), `the result of ${command.op}`);
    },
    /** Gone as a killed manager is: nothing more is sent, nothing renewed. */
    async stop() {
      if (stopped) return;
      stopped = true;
      links.close();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}

/** What one interface was told by its agent, in order, with when (performance.now()). */
type Told = Array<{ op: string; at: number; lease?: number }>;

/**
 * An interface for web-a (a process of the web server, as middleware) on the agent's socket,
 * behind a real HTTP server; `told` lists the commands it carried out, in order.
 */
async function webA(t: TestContext, socket: string) {
  const iface = createInterface({
    server: 'web-a',
    slots: 4,
    markKey: SECRET,
    agentSocket: socket,
    log: quiet,
  });
  const told: Told = [];
  // Wrapped before the first await: the channel has not reached the agent yet.
  const { redirectTo, setRules, setMask, figures } = iface;
  iface.redirectTo = (target, lease) => {
    told.push({ op: target === undefined ? 'cancel-redirect' : 'redirect', at: performance.now(), lease });
    redirectTo.call(iface, target, lease);
  };
  iface.setRules = (spec) => {
    told.push({ op: 'set-rules', at: performance.now() });
    setRules.call(iface, spec);
  };
  iface.setMask = (mask) => {
    told.push({ op: 'set-mask', at: performance.now() });
    setMask.call(iface, mask);
  };
  iface.figures = () => {
    told.push({ op: 'figures', at: performance.now() });
    return figures.call(iface);
  };
  const server = createServer(iface.wrap((_req, res) => res.end('served here')));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    iface.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  t.after(close);
  return {
    iface,
    told,
    /** The status of GET path, and when the request was sent. */
    async get(path = '/page') {
      const sent = performance.now();
      const a = await httpRequest(base + path);
      return { status: a.status, sent };
    },
    close,
  };
}

async function setUp(t: TestContext) {
  const file = site();
  const manager = await testManager();
  t.after(() => manager.stop());
  const agent = await startAgent({ configFile: file, name: 'host-1', managerUrl: manager.url, log: quiet });
  t.after(() => agent.close());
  await eventually(() => manager.connected, 'the agent to reach its manager');
  const first = await webA(t, agent.socket);
  await eventually(() => first.told.some((x) => x.op === 'set-mask'), 'the interface to reach its agent');
  // As the manager does when an agent connects (D45): the page rules of the site file.
  assert.equal(
    (await manager.command({ op: 'set-rules', server: 'web-a', mode: 'stateful', pages: ['/cart/*'] })).ok,
    true,
  );
  return { manager, agent, first };
}

/** Gives a redirect with a lease; `until` is the latest its lease can end anywhere (agent or interface). */
async function redirect(manager: Awaited<ReturnType<typeof testManager>>, lease: number) {
  const r = await manager.command({ op: 'redirect', server: 'web-a', target: TARGET, lease });
  // The agent started the lease before it answered, and the interface before the agent did.
  const until = performance.now() + lease;
  assert.equal(r.ok, true);
  return until;
}

/**
 * Asks `get` until the server serves the page itself; every request answered with a redirect
 * must have been sent before `until` (give or take SLACK). Returns when the first page was served.
 */
async function redirectsUntil(get: () => Promise<{ status: number; sent: number }>, until: number) {
  const late: number[] = [];
  const served = await eventually(async () => {
    const a = await get();
    if (a.status === 302 && a.sent >= until + SLACK) late.push(Math.round(a.sent - until));
    return a.status === 200 ? a : undefined;
  }, 'the interface to serve the page itself');
  assert.deepEqual(late, [], 'redirected this many ms after the lease ran out');
  return served;
}

test('an interface that reconnects during a lease is given only what is left of it, after its page rules', async (t) => {
  const { manager, agent, first } = await setUp(t);
  const lease = 2000;
  const until = await redirect(manager, lease);
  assert.equal((await first.get()).status, 302, 'the first interface redirects');
  // The web server restarts a third of the way into the lease: a new interface dials the agent.
  await first.close();
  await eventually(() => performance.now() >= until - (2 * lease) / 3, 'a third of the lease to pass');
  const dialled = performance.now();
  const second = await webA(t, agent.socket);
  const given = await eventually(() => second.told.find((x) => x.op === 'redirect'), 'the redirect again');
  assert.ok(given.lease !== undefined && given.lease > 0, 'a lease');
  assert.ok(
    given.lease <= until - dialled,
    `given ${given.lease} ms of lease, at most ${Math.floor(until - dialled)} were left`,
  );
  // Rules first (D45, issue 28): a stateful page is never moved in the window between them.
  assert.deepEqual(
    second.told.slice(0, 3).map((x) => x.op),
    ['set-mask', 'set-rules', 'redirect'],
  );
  assert.equal((await second.get('/cart/1')).status, 200, 'a stateful page stays');
  assert.equal((await second.get()).status, 302, 'a stateless page moves while the lease lasts');
  // ... and only until the lease the manager gave ends, not a full lease after the reconnect.
  await redirectsUntil(second.get, until);
  assert.equal(second.iface.redirectTarget, undefined);
});

test('an interface that reconnects after the lease ran out is given no redirect', async (t) => {
  const { manager, agent, first } = await setUp(t);
  const until = await redirect(manager, 300);
  assert.equal((await first.get()).status, 302, 'the first interface redirects');
  await first.close();
  await eventually(() => performance.now() > until + 1, 'the lease to run out');
  const second = await webA(t, agent.socket);
  // The agent asks for figures only after the commands it sends on hello: all of them are in.
  await eventually(() => second.told.some((x) => x.op === 'figures'), 'the agent to ask for figures');
  assert.deepEqual(
    second.told.filter((x) => x.op !== 'figures').map((x) => x.op),
    ['set-mask', 'set-rules'],
  );
  assert.equal(second.iface.redirectTarget, undefined);
  assert.equal((await second.get()).status, 200, 'the page is served here');
});

test('an agent that lost its manager lets the redirect end with its lease, and gives it to no new interface', async (t) => {
  const { manager, agent, first } = await setUp(t);
  const until = await redirect(manager, 1000);
  assert.equal((await first.get()).status, 302, 'redirecting while the lease lasts');
  // The manager dies: nobody renews the redirect.
  await manager.stop();
  await eventually(() => !agent.connected, 'the agent to see its manager gone');
  await redirectsUntil(first.get, until);
  // Still no manager: a web server restarted now serves everyone, as the old one does.
  await first.close();
  const second = await webA(t, agent.socket);
  await eventually(() => second.told.some((x) => x.op === 'set-mask'), 'the interface to reach its agent');
  assert.equal((await second.get()).status, 200, 'the page is served here');
  // A records line goes to the agent after the hello, so the agent's acknowledgement of it
  // comes back on the same socket after every command the agent sent on hello.
  const channel = second.iface.channel!;
  channel.report({
    server: 'web-a',
    start: 1,
    method: 'GET',
    path: '/x',
    status: 200,
    queueWait: 0,
    serviceTime: 1,
  });
  channel.flush();
  assert.ok(channel.waiting > 0);
  await eventually(() => channel.waiting === 0, 'the agent to spool the records and say so');
  assert.deepEqual(
    second.told.map((x) => x.op),
    ['set-mask', 'set-rules'],
  );
  assert.equal(second.iface.redirectTarget, undefined);
});
