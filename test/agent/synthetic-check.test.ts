import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { checkPage, fetchPage } from '../../src/agent/synthetic-check.js';
import { manualClock } from '../../src/core/random.js';
import { CHECK_HEADER } from '../../src/protocol/check-header.js';
import { eventually, serve } from '../helpers.js';

/** A port nobody listens on: bound, then let go. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('a healthy page passes: status and content as configured, timed with the given clock', async (t) => {
  const clock = manualClock(100);
  const url = await serve(t, (req, res) => {
    clock.advance(7);
    // Marked as a check, so an interface that is redirecting serves it where it asked.
    assert.equal(req.headers[CHECK_HEADER], 'test-page');
    if (req.url === '/empty') {
      res.writeHead(204);
      res.end();
      return;
    }
    res.end('status: ok\n');
  });
  assert.deepEqual(
    await checkPage({ url: `${url}/health`, contains: 'ok', timeout: 2000 }, { clock: clock.now }),
    {
      ok: true,
      ms: 7,
    },
  );
  const r = await checkPage({ url: `${url}/empty`, status: 204, timeout: 2000 });
  assert.equal(r.ok, true);
  assert.ok(r.ms >= 0 && r.ms < 2000, String(r.ms));
});

test('a page that answers wrongly fails with a reason an operator understands', async (t) => {
  const url = await serve(t, (req, res) => {
    if (req.url === '/health') {
      res.writeHead(500);
      res.end('database unavailable');
    } else if (req.url === '/moved') {
      res.writeHead(302, { location: '/elsewhere' });
      res.end();
    } else res.end('<html>maintenance</html>');
  });
  const bad = await checkPage({ url: `${url}/health`, timeout: 2000 });
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.reason, `GET ${url}/health answered 500, expected 200`);
  const moved = await checkPage({ url: `${url}/moved`, timeout: 2000 });
  assert.equal(!moved.ok && moved.reason, `GET ${url}/moved answered 302, expected 200`);
  const wrong = await checkPage({ url: `${url}/page`, contains: 'ok', timeout: 2000 });
  assert.equal(!wrong.ok && wrong.reason, `GET ${url}/page: body does not contain "ok"`);
  const unexpected = await checkPage({ url: `${url}/page`, status: 204, timeout: 2000 });
  assert.equal(!unexpected.ok && unexpected.reason, `GET ${url}/page answered 200, expected 204`);
});

test('no answer within the time-out: the check gives up and says so', async (t) => {
  const held: ServerResponse[] = [];
  const url = await serve(t, (_req, res) => {
    held.push(res);
  });
  const r = await checkPage({ url: `${url}/slow`, timeout: 100 });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, `GET ${url}/slow: no answer within 100 ms`);
  assert.ok(r.ms >= 90, String(r.ms));
  assert.equal(held.length, 1);
});

test('a body that stops halfway also times out', async (t) => {
  const url = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('ok, and then nothing');
  });
  const r = await checkPage({ url, contains: 'ok', timeout: 150 });
  assert.equal(!r.ok && r.reason, `GET ${url}: no answer within 150 ms`);
});

test('connection refused, a dropped connection and a bad URL are failures, never exceptions', async (t) => {
  const port = await deadPort();
  const refused = await checkPage({ url: `http://127.0.0.1:${port}/health`, timeout: 2000 });
  assert.equal(!refused.ok && refused.reason, `GET http://127.0.0.1:${port}/health: connection refused`);

  const url = await serve(t, (req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('partial');
    setImmediate(() => req.socket.destroy());
  });
  const dropped = await checkPage({ url, timeout: 2000 });
  assert.equal(dropped.ok, false);
  assert.match(
    !dropped.ok ? dropped.reason : '',
    /^GET http:\/\/127\.0\.0\.1:\d+: connection (closed|reset)/,
  );

  const bad = await checkPage({ url: 'not a url', timeout: 2000 });
  assert.equal(!bad.ok && bad.reason, 'GET "not a url": not a valid URL');
});

test('credentials in the URL stay out of the reason', async () => {
  const port = await deadPort();
  const r = await checkPage({ url: `http://admin:s3cret@127.0.0.1:${port}/health`, timeout: 2000 });
  assert.equal(!r.ok && r.reason, `GET http://127.0.0.1:${port}/health: connection refused`);
});

test('only the first 256 KiB of the body are read, even of an endless page', async (t) => {
  let closed = 0;
  const url = await serve(t, (req, res) => {
    if (req.url === '/late') {
      // The word comes after the part that is read.
      res.end(`${'x'.repeat(300 * 1024)}ok`);
      return;
    }
    const chunk = 'y'.repeat(16 * 1024);
    const more = () => {
      while (!res.destroyed && res.write(chunk)) {}
      if (!res.destroyed) res.once('drain', more);
    };
    res.once('close', () => closed++);
    more();
  });
  const late = await checkPage({ url: `${url}/late`, contains: 'ok', timeout: 5000 });
  assert.equal(
    !late.ok && late.reason,
    `GET ${url}/late: body does not contain "ok" (first 262144 bytes read)`,
  );
  const endless = await fetchPage(`${url}/endless`, { timeout: 5000, maxBytes: 100_000 });
  assert.equal(endless.ok && endless.body.length, 100_000);
  assert.equal(endless.ok && endless.status, 200);
  // The agent hung up; the server's endless answer ends.
  await eventually(() => closed === 1, 'the server to see the connection end');
});
