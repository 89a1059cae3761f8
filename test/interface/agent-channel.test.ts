import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type TestContext, test } from 'node:test';
import { AgentChannel, type AgentChannelOptions } from '../../src/interface/agent-channel.js';
import { ServerInterface } from '../../src/interface/server-interface.js';
import { decodeBatch } from '../../src/protocol/local-record.js';
import type { RequestRecord } from '../../src/protocol/messages.js';
import { eventually, httpRequest, quiet, serve } from '../helpers.js';

/**
 * A stand-in agent: a real Unix socket that keeps every line it gets, and acknowledges each
 * records line as spooled (as the agent does once its spool is synced) unless told not to.
 */
async function agentSocket(path: string, o: { paused?: boolean; noAck?: boolean } = {}) {
  const lines: Array<Record<string, unknown>> = [];
  /** The number of the next records line, from the hello. */
  let next = 1;
  /** Record lines, decoded as the agent decodes them. */
  const records: RequestRecord[] = [];
  let peer: Socket | undefined;
  const server: Server = createServer((s) => {
    peer = s;
    // As the agent does: a challenge first; the interface says hello only after it (D50).
    s.write('{"op":"challenge","nonce":"stand-in-agent-nonce"}\n');
    // A stuck agent: nothing is read until resume().
    if (o.paused) s.pause();
    createInterface({ input: s }).on('line', (l) => {
      const v = JSON.parse(l);
      if (!Array.isArray(v)) {
        lines.push(v);
        if (v.t === 'hello') next = v.first;
      } else {
        const r = decodeBatch(v, 'web-a', (rec) => records.push(rec));
        if (!o.noAck) s.write(`${JSON.stringify({ op: 'spooled', seq: next })}\n`);
        next++;
        assert.deepEqual(
          r,
          { records: r.records, invalid: 0, error: undefined },
          'a batch the agent can read',
        );
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    lines,
    records,
    send: (o: unknown) => peer!.write(`${JSON.stringify(o)}\n`),
    resume: () => peer!.resume(),
    close: () => {
      peer?.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

/**
 * A stand-in agent at a fresh socket path and a started channel to it, both closed after
 * the test. The caller waits for whatever it needs (the hello, the connection).
 */
async function channelToAgent(
  t: TestContext,
  tag: string,
  channel: Partial<AgentChannelOptions> = {},
  agentOptions: { paused?: boolean; noAck?: boolean } = {},
) {
  const path = join(tmpdir(), `sy-agent-${process.pid}-${Date.now()}-${tag}.sock`);
  const agent = await agentSocket(path, agentOptions);
  const iface = new ServerInterface({ server: 'web-a', slots: 2, markKey: 's' });
  const ch = new AgentChannel({ path, iface, log: quiet, ...channel });
  t.after(async () => {
    ch.close();
    await agent.close();
  });
  ch.start();
  return { agent, iface, ch };
}

const record = (path: string): RequestRecord => ({
  server: 'web-a',
  start: 0,
  method: 'GET',
  path,
  status: 200,
  queueWait: 0,
  serviceTime: 1,
});

test('the interface says hello, streams records, and obeys commands from its agent', async (t) => {
  const { agent, iface, ch } = await channelToAgent(t, 'a');
  await eventually(() => agent.lines.length === 1, 'the hello');
  const hello = agent.lines[0]!;
  assert.deepEqual(
    { ...hello, instance: typeof hello.instance },
    { t: 'hello', server: 'web-a', pid: process.pid, instance: 'string', first: 1 },
  );
  ch.report(record('/a'));
  await eventually(() => agent.records.length === 1, 'the record');
  assert.deepEqual(agent.records[0], record('/a'));

  agent.send({ op: 'redirect', id: 1, target: 'http://127.0.0.1:8080', lease: 60_000 });
  agent.send({ op: 'echo', id: 2, text: 'ping' });
  agent.send({ op: 'figures', id: 3 });
  agent.send({ op: 'launch', id: 4 });
  agent.send({ op: 'cancel-redirect', id: 5 });
  await eventually(() => agent.lines.length === 5, 'four answers (the bad command gets none)');
  assert.deepEqual(agent.lines[1], { t: 'result', id: 1, ok: true });
  assert.deepEqual(agent.lines[2], { t: 'result', id: 2, ok: true, data: 'ping' });
  assert.equal(agent.lines[3]!.t, 'figures');
  assert.equal((agent.lines[3]!.figures as { slots: number }).slots, 2);
  assert.equal(iface.redirectTarget, undefined);
});

test('with no agent, records wait for it and reach it when it is back; past the bound they are dropped and said why', async (t) => {
  const path = join(tmpdir(), `sy-agent-${process.pid}-${Date.now()}-b.sock`);
  const iface = new ServerInterface({ server: 'web-a', slots: 2, markKey: 's' });
  const ch = new AgentChannel({
    path,
    iface,
    log: quiet,
    flushMs: 5,
    maxBuffer: 2000,
    backoff: { initial: 20, factor: 1, maxAttempts: 1, jitter: 0 },
  });
  t.after(() => ch.close());
  ch.start();
  for (let i = 0; i < 5; i++) ch.report(record(`/${i}`));
  ch.flush();
  assert.equal(ch.dropped, 0, 'kept, not dropped');
  // Far more than the bound: the first lines are kept, then new records are dropped.
  for (let i = 0; i < 200; i++) {
    ch.report(record(`/more/${'x'.repeat(50)}/${i}`));
    if (i % 10 === 9) ch.flush();
  }
  const dropped = ch.dropped;
  assert.ok(dropped > 0 && dropped < 200, `dropped ${dropped}`);
  const agent = await agentSocket(path);
  t.after(() => agent.close());
  await eventually(() => ch.connected, 'the channel to find the agent');
  await eventually(() => agent.records.length === 205 - dropped, 'every record kept');
  assert.deepEqual(
    agent.records.slice(0, 5).map((r) => r.path),
    ['/0', '/1', '/2', '/3', '/4'],
  );
  ch.report(record('/after'));
  await eventually(() => agent.records.at(-1)?.path === '/after', 'the record after');
  assert.deepEqual(agent.lines.slice(1), [{ t: 'overflow', dropped, reason: 'agent-away' }]);
  assert.equal(ch.waiting, 0, 'everything acknowledged is forgotten');
});

test('an agent that dies before acknowledging gets nothing lost: the next one is sent the same lines, numbered', async (t) => {
  const path = join(tmpdir(), `sy-agent-${process.pid}-${Date.now()}-r.sock`);
  const iface = new ServerInterface({ server: 'web-a', slots: 2, markKey: 's' });
  const ch = new AgentChannel({
    path,
    iface,
    log: quiet,
    flushMs: 5,
    backoff: { initial: 20, factor: 1, maxAttempts: 1, jitter: 0 },
  });
  t.after(() => ch.close());
  const first = await agentSocket(path, { noAck: true });
  ch.start();
  await eventually(() => ch.connected, 'the channel to find the first agent');
  for (let i = 0; i < 3; i++) {
    ch.report(record(`/${i}`));
    ch.flush();
  }
  await eventually(() => first.records.length === 3, 'the first agent to read them');
  await first.close(); // as kill -9: nothing acknowledged
  const second = await agentSocket(path);
  t.after(() => second.close());
  await eventually(() => second.records.length === 3, 'the same records again');
  assert.equal(second.lines[0]!.first, 1, 'numbered from the first unacknowledged line');
  assert.equal(second.lines[0]!.instance, first.lines[0]!.instance, 'the same interface process');
  await eventually(() => ch.waiting === 0, 'the second agent to acknowledge them');
  ch.report(record('/3'));
  ch.flush();
  await eventually(() => second.records.length === 4, 'the next record');
  assert.equal(ch.dropped, 0);
});

test('records are gathered and written together, in order, at most flushMs late', async (t) => {
  const { agent, ch } = await channelToAgent(t, 'c', { flushMs: 20 });
  await eventually(() => ch.connected, 'the channel to find the agent');
  // More than one batch's worth (45 KiB of JSON) of long records, then one more that waits for
  // the timer.
  const long = '/x'.repeat(500);
  for (let i = 0; i < 40; i++) ch.report(record(`${long}/${i}`));
  ch.report(record('/last'));
  await eventually(() => agent.records.length === 41, 'every record');
  assert.deepEqual(
    agent.records.map((r) => r.path),
    [...Array.from({ length: 40 }, (_, i) => `${long}/${i}`), '/last'],
  );
  assert.equal(ch.dropped, 0);
});

test('an agent that stops reading: new records are dropped whole and counted once the backlog is full, none half-written, and an overflow line comes first once it reads again', async (t) => {
  const { agent, ch } = await channelToAgent(t, 'd', { maxBuffer: 10_000 }, { paused: true });
  await eventually(() => ch.connected, 'the channel to find the agent');
  // Far more than the kernel's socket buffer holds: 4 MB of records, each batch written as
  // it fills, while the agent reads nothing.
  const long = '/x'.repeat(500);
  const sent = 4000;
  for (let i = 0; i < sent; i++) ch.report(record(`${long}/${i}`));
  assert.ok(ch.dropped > 0, 'records were dropped');
  const dropped = ch.dropped;
  agent.resume();
  await eventually(
    () => agent.records.length === sent - dropped,
    'every record written before the agent stopped',
  );
  ch.report(record('/after'));
  await eventually(() => agent.records.at(-1)?.path === '/after', 'the record after the agent came back');
  assert.equal(ch.dropped, dropped, 'nothing dropped once the agent reads again');
  assert.equal(agent.records.length + dropped, sent + 1, 'every record written or counted');
  assert.deepEqual(agent.lines.slice(1), [{ t: 'overflow', dropped, reason: 'agent-slow' }]);
  // What was written is a prefix of what was sent: batches are dropped whole, at the end.
  const numbers = agent.records.slice(0, -1).map((r) => Number(r.path.slice(long.length + 1)));
  assert.deepEqual(
    numbers,
    Array.from({ length: sent - dropped }, (_, i) => i),
  );
});

test('records of real requests reach the agent whole: client, query, sizes (chunked too), headers', async (t) => {
  // No timer flush during the test: the records are written when the test says, once every
  // connection is closed.
  const { agent, iface, ch } = await channelToAgent(t, 'e', { flushMs: 60_000 });
  iface.reportTo(ch);
  await eventually(() => ch.connected, 'the channel to find the agent');
  const sockets: Array<{ port: number; closed: () => boolean }> = [];
  const url = await serve(
    t,
    iface.wrap((req, res) => {
      const s = req.socket;
      sockets.push({ port: s.remotePort!, closed: () => s.destroyed });
      if (req.url!.startsWith('/chunked')) {
        res.setHeader('content-type', 'text/plain');
        res.write('abc');
        res.end('def');
      } else {
        res.writeHead(200, { 'content-type': 'text/html', 'content-length': '2' });
        res.end('ok');
      }
    }),
  );
  // One connection per request (no keep-alive): each is closed before the records are made.
  await httpRequest(`${url}/page?x=1`, { headers: { 'user-agent': 'test-agent/1', cookie: 'a=b' } });
  await httpRequest(`${url}/chunked`, { headers: { referer: 'http://example.test/' } });
  await eventually(() => sockets.length === 2 && sockets.every((s) => s.closed()), 'both connections closed');
  assert.equal(agent.records.length, 0, 'nothing written before the flush');
  ch.flush();
  await eventually(() => agent.records.length === 2, 'both records');
  const [page, chunked] = agent.records;
  assert.equal(page!.client, `127.0.0.1:${sockets[0]!.port}`);
  assert.equal(page!.path, '/page');
  assert.equal(page!.query, 'x=1');
  assert.equal(page!.bytes, 2);
  assert.equal(page!.contentType, 'text/html');
  assert.equal(page!.userAgent, 'test-agent/1');
  assert.equal(page!.cookies, true);
  assert.equal(page!.aborted, false);
  assert.equal(chunked!.client, `127.0.0.1:${sockets[1]!.port}`);
  assert.equal(chunked!.contentType, 'text/plain');
  assert.equal(chunked!.referrer, 'http://example.test/');
  assert.equal(chunked!.cookies, false);
  // Chunked: what the socket wrote for it, head and chunk framing included.
  assert.ok(chunked!.bytes! > 6 && chunked!.bytes! < 400, `chunked size ${chunked!.bytes}`);
  assert.equal(ch.dropped, 0);
});
