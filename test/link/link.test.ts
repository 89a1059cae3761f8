import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { test } from 'node:test';
import WebSocket from 'ws';
import { LinkClient } from '../../src/link/link-client.js';
import { type LinkHandlers, type ServerLink, startLinkServer } from '../../src/link/link-server.js';
import type { Logger } from '../../src/log/logger.js';
import type { Message } from '../../src/protocol/messages.js';
import { eventually } from '../helpers.js';

/** A logger that keeps every line, so tests can read what an operator would. */
function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const put = (a: unknown, b?: unknown) => {
    lines.push(typeof a === 'string' ? a : String(b));
  };
  return { lines, info: put, warn: put, error: put, debug: put } as unknown as Logger & { lines: string[] };
}

async function manager(opts: { secret?: string; authTimeout?: number; port?: number } = {}) {
  const http: Server = createServer();
  await new Promise<void>((r) => http.listen(opts.port ?? 0, '127.0.0.1', r));
  const log = recordingLog();
  const refused: string[] = [];
  const got: Array<{ id: string; m: Message }> = [];
  const opened: ServerLink[] = [];
  const closed: string[] = [];
  const replaced: string[] = [];
  const duplicates: Array<{ id: string; remotes: [string, string] }> = [];
  const handlers: LinkHandlers = {
    open: (l) => opened.push(l),
    message: (l, m) => got.push({ id: l.id, m }),
    close: (l, why) => closed.push(`${l.id}: ${why}`),
  };
  const links = startLinkServer({
    server: http,
    keyOf: (role) => (role === 'agent' ? (opts.secret ?? 'site-secret') : undefined),
    heartbeat: 200,
    authTimeout: opts.authTimeout ?? 2000,
    storedSeq: () => 17,
    log,
    handlers,
    refused: (r) => refused.push(r),
    replaced: (role, id) => replaced.push(`${role}/${id}`),
    duplicate: (_role, id, remotes) => duplicates.push({ id, remotes }),
  });
  const port = (http.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/link`,
    port,
    log,
    refused,
    got,
    opened,
    closed,
    replaced,
    duplicates,
    links,
    async stop() {
      links.close();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}

function client(url: string, secret = 'site-secret', id = 'host-1') {
  const log = recordingLog();
  const welcomes: number[] = [];
  const got: Message[] = [];
  const c = new LinkClient({
    url,
    role: 'agent',
    id,
    key: secret,
    log,
    heartbeat: 200,
    backoff: { initial: 50, factor: 2, maxAttempts: 3, jitter: 0 },
    onWelcome: (w) => welcomes.push(w.stored),
    onMessage: (m) => got.push(m),
  });
  c.start();
  return { c, log, welcomes, got };
}

test('a component that knows the secret is welcomed, told what is stored, and messages flow both ways', async (t) => {
  const m = await manager();
  const a = client(m.url);
  t.after(async () => {
    await a.c.close();
    await m.stop();
  });
  await eventually(() => a.c.connected, 'the agent to connect');
  assert.deepEqual(a.welcomes, [17]);
  assert.equal(m.opened[0]!.role, 'agent');
  assert.equal(m.opened[0]!.id, 'host-1');
  assert.ok(a.c.send({ v: 1, type: 'batch', seq: 18, records: [], events: [], samples: [] }));
  await eventually(() => m.got.length === 1, 'the batch to arrive');
  assert.ok(m.opened[0]!.send({ v: 1, type: 'ack', seq: 18 }));
  await eventually(() => a.got.length === 1, 'the ack to arrive');
  assert.deepEqual(a.got[0], { v: 1, type: 'ack', seq: 18 });
});

test('a wrong secret is refused, said so on both sides, and never reaches the handlers', async (t) => {
  const m = await manager();
  const a = client(m.url, 'wrong');
  t.after(async () => {
    await a.c.close();
    await m.stop();
  });
  await eventually(() => m.refused.includes('auth'), 'the refusal');
  await eventually(
    () => a.log.lines.some((l) => l.includes('refused by the manager: wrong agent key')),
    'the agent to say why',
  );
  assert.equal(a.c.connected, false);
  assert.equal(m.opened.length, 0);
  assert.ok(!a.log.lines.join('\n').includes('site-secret'));
});

test('a manager that does not know the secret gets nothing from the component', async (t) => {
  const m = await manager({ secret: 'rogue' });
  const a = client(m.url, 'site-secret');
  t.after(async () => {
    await a.c.close();
    await m.stop();
  });
  await eventually(() => m.refused.length > 0, 'the manager to refuse the MAC');
  assert.equal(a.c.connected, false);
  assert.equal(a.c.send({ v: 1, type: 'ack', seq: 1 }), false);
});

test('garbage first, or silence, is refused; invalid messages after the handshake are counted, the link stays', async (t) => {
  const m = await manager({ authTimeout: 300 });
  t.after(() => m.stop());
  const raw = new WebSocket(m.url);
  const closed = new Promise<number>((r) => raw.once('close', (code) => r(code)));
  raw.once('message', () => raw.send('{"hello": "there"}'));
  assert.equal(await closed, 4401);
  const silent = new WebSocket(m.url);
  const silentClosed = new Promise<number>((r) => silent.once('close', (code) => r(code)));
  assert.equal(await silentClosed, 4401);
  assert.deepEqual(m.refused.slice(0, 2).sort(), ['auth', 'timeout']);

  const a = client(m.url);
  t.after(() => a.c.close());
  await eventually(() => a.c.connected, 'the agent to connect');
  const ws = (a.c as unknown as { ws: WebSocket }).ws;
  ws.send('{"v":1,"type":"batch","seq":0}');
  ws.send('not json');
  assert.ok(a.c.send({ v: 1, type: 'ack', seq: 3 }));
  await eventually(() => m.got.length === 1, 'the valid message after the bad ones');
  assert.equal(m.refused.filter((r) => r === 'invalid').length, 2);
  assert.ok(m.log.lines.some((l) => /refused: seq: /.test(l)));
});

test('the component dials again after the manager restarts, and is welcomed again', async (t) => {
  let m = await manager();
  const a = client(m.url);
  t.after(() => a.c.close());
  await eventually(() => a.c.connected, 'the first connection');
  const port = m.port;
  await m.stop();
  await eventually(() => !a.c.connected, 'the link to drop');
  m = await manager({ port });
  t.after(() => m.stop());
  await eventually(() => a.welcomes.length === 2, 'the second welcome', 5000);
  assert.ok(a.log.lines.some((l) => l.includes('is down')));
});

test('two live components under one name are told apart from a restart and named, once', async (t) => {
  const m = await manager();
  const a = client(m.url);
  t.after(async () => {
    await a.c.close();
    await m.stop();
  });
  await eventually(() => a.c.connected, 'the first agent to connect');
  const b = client(m.url);
  t.after(() => b.c.close());
  // Each dials again when replaced: a duel, which the manager names after two replacements.
  await eventually(() => m.duplicates.length === 1, 'the duplicate name to be reported', 5000);
  assert.ok(m.replaced.length >= 2);
  assert.ok(m.replaced.every((r) => r === 'agent/host-1'));
  const [first, second] = m.duplicates[0]!.remotes;
  assert.match(first, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(first, second);
  const told = [...a.log.lines, ...b.log.lines];
  assert.ok(
    told.some((l) => l.includes('replaced by a newer connection as agent "host-1"')),
    'the replaced side says why it is down',
  );
  // Reported at most once a minute, however long the duel goes on.
  const seen = m.replaced.length;
  await eventually(() => m.replaced.length >= seen + 2, 'the duel to go on');
  assert.equal(m.duplicates.length, 1);
});

test('one replacement (a component restarted before its old connection closed) is no duplicate', async (t) => {
  const m = await manager();
  const a = client(m.url);
  t.after(() => m.stop());
  await eventually(() => a.c.connected, 'the first connection');
  // The old process is gone without a word: its client stops dialling.
  (a.c as unknown as { stopped: boolean }).stopped = true;
  const b = client(m.url);
  t.after(async () => {
    await a.c.close();
    await b.c.close();
  });
  await eventually(() => m.replaced.length === 1 && b.c.connected, 'the newer connection to win');
  assert.equal(m.duplicates.length, 0);
});

test('before proof a peer may send only the handshake: a big frame is cut at its header, and components still get in', async (t) => {
  const m = await manager();
  t.after(() => m.stop());
  const big = new WebSocket(m.url);
  const closed = new Promise<number>((r) => big.once('close', (code) => r(code)));
  big.once('message', () => big.send(`{"v":1,"type":"auth","pad":"${'x'.repeat(100_000)}"}`));
  big.on('error', () => {});
  assert.equal(await closed, 1009, 'closed as too big, before its payload was read');
  const a = client(m.url);
  t.after(() => a.c.close());
  await eventually(() => a.c.connected, 'a component to connect after it');
  // After proof, messages as large as the protocol allows pass.
  const records = Array.from({ length: 500 }, (_, i) => ({
    server: 'web-a',
    start: 1,
    method: 'GET',
    path: `/${'p'.repeat(200)}/${i}`,
    status: 200,
    queueWait: 0,
    serviceTime: 1,
  }));
  assert.ok(a.c.send({ v: 1, type: 'batch', seq: 18, records, events: [], samples: [] }));
  await eventually(() => m.got.length === 1, 'a 100 kB batch after proof');
});

test('upgrades beyond the pending handshakes wait their turn instead of being refused', async (t) => {
  const m = await manager({ authTimeout: 500 });
  t.after(() => m.stop());
  // 40 peers that upgrade and never answer the challenge: 32 hold every handshake slot.
  const silent = Array.from({ length: 40 }, () => {
    const ws = new WebSocket(m.url);
    ws.on('error', () => {});
    return ws;
  });
  t.after(() => {
    for (const ws of silent) ws.terminate();
  });
  const a = client(m.url);
  t.after(() => a.c.close());
  await eventually(() => a.c.connected, 'the component to get in once silent peers time out', 8000);
  assert.ok(m.refused.filter((r) => r === 'timeout').length >= 1);
});

test('peers that upgrade and then answer nothing, not even the close, free their slots at the refusal', async (t) => {
  const m = await manager({ authTimeout: 500 });
  t.after(() => m.stop());
  // Raw upgrades that never read a byte: ws would wait 30 s for each one's answer to its close,
  // and 32 of them would hold every handshake slot that long.
  const port = Number(new URL(m.url).port);
  const silent = Array.from({ length: 40 }, () => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.write(
      'GET /link HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    s.pause();
    return s;
  });
  t.after(() => {
    for (const s of silent) s.destroy();
  });
  const a = client(m.url);
  t.after(() => a.c.close());
  // The deadline (0.5 s), the wait for the close (1 s), and room: far under ws's 30 s.
  await eventually(() => a.c.connected, 'the component to get in', 6000);
});

test('a manager that upgrades and then says nothing is cut after the deadline and dialled again', async (t) => {
  const http: Server = createServer();
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ server: http });
  let connections = 0;
  wss.on('connection', () => connections++); // and never a challenge
  t.after(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });
  const log = recordingLog();
  const c = new LinkClient({
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/link`,
    role: 'agent',
    id: 'host-1',
    key: 'site-secret',
    log,
    handshakeDeadline: 200,
    backoff: { initial: 20, factor: 1, maxAttempts: 1, jitter: 0 },
    onWelcome: () => {},
    onMessage: () => {},
  });
  c.start();
  t.after(() => c.close());
  await eventually(() => connections >= 2, 'a second dial after the deadline', 3000);
  assert.ok(log.lines.some((l) => l.includes('no welcome from the manager within 200 ms')));
});
