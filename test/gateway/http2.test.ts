import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type IncomingHttpHeaders } from 'node:http2';
import { get } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generate } from 'selfsigned';
import { type RunningInterceptor, startInterceptorCli, tempDir } from '../helpers.js';

/**
 * HTTP/2 clients (issue 30): over TLS by ALPN beside HTTP/1.1 on one listener, and cleartext
 * (h2c) on a listener configured for it. The servers behind speak HTTP/1.1 as ever.
 */
describe('HTTP/2 at the interceptor', { timeout: 60_000 }, () => {
  let backend: Server;
  let ic: RunningInterceptor;
  let ca: string;

  before(async () => {
    backend = createServer((req, res) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
        res.end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            headers: req.headers,
            bytes,
            version: req.httpVersion,
          }),
        );
      });
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const port = (backend.address() as AddressInfo).port;
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    });
    ca = pems.cert;
    const dir = tempDir({
      'cert.pem': pems.cert,
      'key.pem': pems.private,
      'site.yaml': `
interceptor:
  listen:
    - { address: 127.0.0.1:0, tls: { cert: ./cert.pem, key: ./key.pem }, http2: true }
    - { address: 127.0.0.1:0, http2: true }
  admin: 127.0.0.1:0
  healthCheck: { enabled: false }
servers:
  - { name: app, url: http://127.0.0.1:${port}, public: { https: "https://app.example" } }
applications:
  - { name: api, match: { pathPrefix: /api }, servers: [app], mode: proxy }
  - { name: www, match: { pathPrefix: / }, servers: [app] }
`,
    });
    ic = await startInterceptorCli(join(dir, 'site.yaml'));
  });
  after(async () => {
    await ic?.stop();
    backend?.close();
  });

  /** One HTTP/2 request; resolves with the response's headers and body. */
  async function h2(url: string, headers: Record<string, string>, body?: Buffer) {
    const session = connect(url, { ca });
    try {
      const stream = session.request(headers);
      if (body) stream.end(body);
      else stream.end();
      const [h] = (await once(stream, 'response')) as [IncomingHttpHeaders];
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return { headers: h, body: Buffer.concat(chunks).toString() };
    } finally {
      session.close();
    }
  }

  test('an HTTP/2 client over TLS is proxied: the server gets HTTP/1.1 with Host from :authority, the body, the forwarding fields', async () => {
    const tls = ic.urls[0]!;
    const r = await h2(
      tls,
      { ':method': 'POST', ':path': '/api/orders?x=1', ':authority': 'shop.example' },
      Buffer.alloc(1_000_000, 1),
    );
    assert.equal(r.headers[':status'], 200);
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(r.headers.via, '1.1 switchyard');
    const seen = JSON.parse(r.body) as {
      url: string;
      headers: Record<string, string>;
      bytes: number;
      version: string;
    };
    assert.equal(seen.url, '/api/orders?x=1');
    assert.equal(seen.version, '1.1');
    assert.equal(seen.headers.host, 'shop.example');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.bytes, 1_000_000);
    // A GET without a body goes without one.
    const g = await h2(tls, { ':path': '/api/x', ':authority': 'shop.example' });
    assert.equal((JSON.parse(g.body) as { bytes: number }).bytes, 0);
    // A redirect application answers HTTP/2 clients with its redirect.
    const red = await h2(tls, { ':path': '/page', ':authority': 'shop.example' });
    assert.equal(red.headers[':status'], 302);
    assert.equal(red.headers.location, 'https://app.example/page');
  });

  test('the same TLS listener still serves HTTP/1.1, and the h2c listener cleartext HTTP/2', async () => {
    const port = new URL(ic.urls[0]!).port;
    const one = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      get(
        {
          host: '127.0.0.1',
          port,
          path: '/api/one',
          ca,
          servername: 'localhost',
          headers: { host: 'shop.example' },
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      ).on('error', reject);
    });
    assert.equal(one.status, 200);
    assert.equal((JSON.parse(one.body) as { headers: Record<string, string> }).headers.host, 'shop.example');
    const clear = await h2(ic.urls[1]!, { ':path': '/api/clear', ':authority': 'shop.example' });
    assert.equal(clear.headers[':status'], 200);
    assert.equal(
      (JSON.parse(clear.body) as { headers: Record<string, string> }).headers['x-forwarded-proto'],
      'http',
    );
  });
});
