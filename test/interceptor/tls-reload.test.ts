import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequestWithAddress } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { type DemoServer, startDemoServer } from '../../src/demo/server.js';
import type { StatusView } from '../../src/interceptor/views.js';
import {
  type Answer,
  eventually,
  httpRequest,
  metricValue,
  type RunningInterceptor,
  runCli,
  startInterceptorCli,
  TEST_TOKEN,
  tempDir,
} from '../helpers.js';

/**
 * A TLS listener beside a plain one, trusted proxies, and live reloads (SIGHUP and
 * `ctl reload`) of the site file and of the certificate, against a real interceptor process.
 */

const DUAL_HTTPS = 'https://dual.shop.example:8443';
let plain: DemoServer;
let dual: DemoServer;
let ic: RunningInterceptor;
let dir: string;
let httpsUrl: string;
let certA: { cert: string; key: string };
let certB: { cert: string; key: string };

function makeCert(name: string): { cert: string; key: string } {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, `${name}.key`),
      '-out',
      join(dir, `${name}.crt`),
    ],
    { stdio: 'ignore' },
  );
  return {
    cert: readFileSync(join(dir, `${name}.crt`), 'utf8'),
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
  };
}

function useCert(c: { cert: string; key: string }): void {
  writeFileSync(join(dir, 'cert.pem'), c.cert);
  writeFileSync(join(dir, 'key.pem'), c.key);
}

/** The site file; `extra` is appended to the applications. */
function site(opts: { plainCapacity?: number; extra?: string } = {}): string {
  return `
interceptor:
  listen:
    - 127.0.0.1:0
    - { address: 127.0.0.1:0, tls: { cert: cert.pem, key: key.pem } }
  admin: 127.0.0.1:0
  trustedProxies: [127.0.0.2]
servers:
  - { name: plain, url: ${plain.url}, capacity: ${opts.plainCapacity ?? 1} }
  - { name: dual, public: { http: ${dual.url}, https: ${DUAL_HTTPS} }, internal: ${dual.url} }
applications:
  - { name: shop, match: { pathPrefix: / }, servers: [plain, dual] }
${opts.extra ?? ''}`;
}

const writeSite = (text: string) => writeFileSync(join(dir, 'site.yaml'), text);

before(async () => {
  plain = await startDemoServer({ port: 0, name: 'plain' });
  dual = await startDemoServer({ port: 0, name: 'dual' });
  dir = tempDir();
  certA = makeCert('a');
  certB = makeCert('b');
  useCert(certA);
  writeSite(site());
  ic = await startInterceptorCli(join(dir, 'site.yaml'));
  assert.equal(ic.urls.length, 2);
  assert.match(ic.urls[1]!, /^https:\/\/127\.0\.0\.1:\d+$/);
  httpsUrl = ic.urls[1]!;
});

after(async () => {
  await ic?.stop();
  await Promise.all([plain?.close(), dual?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function httpsGet(path: string, ca: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(httpsUrl);
    const req = httpsRequest({ host: u.hostname, port: u.port, path, ca, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Where `n` answers sent browsers: the set of Location origins. */
async function origins(n: number, ask: () => Promise<Answer>): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await ask();
    assert.equal(r.status, 302);
    seen.add(new URL(String(r.headers.location)).origin);
  }
  return seen;
}

/** SHA-256 fingerprint of the certificate the TLS listener presents on a new connection. */
async function servedFingerprint(): Promise<string> {
  const u = new URL(httpsUrl);
  const socket: TLSSocket = tlsConnect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false });
  try {
    await once(socket, 'secureConnect');
    return socket.getPeerCertificate().fingerprint256;
  } finally {
    socket.destroy();
  }
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
const count = (re: RegExp) => (ic.output().match(new RegExp(re.source, 'g')) ?? []).length;
const ctl = (...args: string[]) =>
  runCli(['ctl', '--admin', ic.adminUrl, ...args], { SWITCHYARD_TOKEN: TEST_TOKEN });

test('over TLS a browser is sent only to a server with an https address, never to http', async () => {
  assert.deepEqual([...(await origins(60, () => httpsGet('/cart?x=1', certA.cert)))], [DUAL_HTTPS]);
  const r = await httpsGet('/p/a%20b?q=%2F', certA.cert);
  assert.equal(r.headers.location, `${DUAL_HTTPS}/p/a%20b?q=%2F`);
  // Over plain http both servers take users, each at its http address.
  const overHttp = await origins(60, () => httpRequest(`${ic.url}/cart?x=1`));
  assert.deepEqual([...overHttp].sort(), [dual.url, plain.url].sort());
});

/** A plain-http request to the interceptor from a chosen loopback source address. */
function fromAddress(localAddress: string, headers: Record<string, string>): () => Promise<Answer> {
  const u = new URL(ic.url);
  return () =>
    new Promise((resolve, reject) => {
      const req = httpRequestWithAddress(
        { host: u.hostname, port: u.port, path: '/', localAddress, agent: false, headers },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' }));
        },
      );
      req.on('error', reject);
      req.end();
    });
}

test('X-Forwarded-Proto and Forwarded are believed only from trusted proxies', async () => {
  const claims: Array<Record<string, string>> = [
    { 'x-forwarded-proto': 'https' },
    { forwarded: 'for=192.0.2.1;proto=https' },
  ];
  // 127.0.0.1 is not in trustedProxies: its claims change nothing.
  for (const h of claims) {
    const seen = await origins(40, fromAddress('127.0.0.1', h));
    assert.ok(seen.has(plain.url) && !seen.has(DUAL_HTTPS), `untrusted ${JSON.stringify(h)}: ${[...seen]}`);
  }
  // 127.0.0.2 is: https is believed, and so is plain http.
  for (const h of claims) {
    assert.deepEqual([...(await origins(40, fromAddress('127.0.0.2', h)))], [DUAL_HTTPS], JSON.stringify(h));
  }
  const saysHttp = await origins(40, fromAddress('127.0.0.2', { 'x-forwarded-proto': 'http' }));
  assert.ok(saysHttp.has(plain.url) && !saysHttp.has(DUAL_HTTPS));
});

const plainCapacity = async () =>
  (await ic.admin<StatusView>('GET', '/status')).json.servers.find((s) => s.name === 'plain')!.capacity;

test('SIGHUP with a good file applies it to new requests; with a bad one the old stays and says why', async () => {
  assert.equal((await httpRequest(`${ic.url}/new/x`)).status, 302);
  const applied = count(/reload applied/);
  writeSite(
    site({
      plainCapacity: 4,
      extra: '  - { name: fresh, match: { pathPrefix: /new }, servers: [dual], redirectStatus: 307 }',
    }),
  );
  ic.child.kill('SIGHUP');
  await eventually(() => count(/reload applied/) > applied, 'the reload to apply');
  assert.equal(await plainCapacity(), 4);
  const fresh = await httpRequest(`${ic.url}/new/x?y=1`);
  assert.equal(fresh.status, 307);
  assert.equal(fresh.headers.location, `${dual.url}/new/x?y=1`);

  // A bad file: one clear error in the log, and the running configuration stays.
  const refused = count(/reload refused/);
  writeSite(site({ plainCapacity: 99 }));
  ic.child.kill('SIGHUP');
  await eventually(() => count(/reload refused/) > refused, 'the reload to be refused');
  const line = ic
    .output()
    .split('\n')
    .filter((l) => l.includes('reload refused'))
    .at(-1)!;
  const logged = JSON.parse(line) as { level: number; msg: string; error: string };
  assert.equal(logged.level, 50);
  assert.match(logged.msg, /the running configuration stays/);
  assert.match(logged.error, /site\.yaml: servers\[0\]\.capacity: /);
  assert.equal(ic.child.exitCode, null);
  assert.equal(await plainCapacity(), 4);
  assert.equal((await httpRequest(`${ic.url}/new/x`)).status, 307);
  assert.equal((await httpsGet('/', certA.cert)).status, 302);
});

test('ctl reload: a good file exits 0; a bad one exits non-zero with one line and changes nothing', async () => {
  writeSite(site({ plainCapacity: 2 }));
  const good = await ctl('reload');
  assert.deepEqual([good.code, good.stdout, good.stderr], [0, 'site file reloaded\n', '']);
  assert.equal(await plainCapacity(), 2);
  assert.equal((await httpRequest(`${ic.url}/new/x`)).status, 302, 'the application "fresh" is gone');

  writeSite(site({ plainCapacity: 2, extra: '  - { name: broken, servers: [nowhere] }' }));
  const bad = await ctl('reload');
  assert.notEqual(bad.code, 0);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /^switchyard: [^\n]*applications\[1\]\.[^\n]*\n$/);
  // A file with several problems still gives one line, naming each of them.
  writeSite(site({ plainCapacity: 0, extra: '  - { name: broken, servers: [nowhere] }' }));
  const worse = await ctl('reload');
  assert.notEqual(worse.code, 0);
  assert.match(
    worse.stderr,
    /^switchyard: [^\n]*servers\[0\]\.capacity: [^\n]*; [^\n]*applications\[1\]\.[^\n]*\n$/,
  );
  assert.equal(ic.child.exitCode, null);
  assert.equal(await plainCapacity(), 2);
  assert.equal((await httpRequest(`${ic.url}/`)).status, 302);
  writeSite(site({ plainCapacity: 2 }));
});

test('a certificate that cannot be used refuses the reload; the process keeps serving the old one', async () => {
  for (const broken of [
    { cert: 'not a certificate\n', key: certA.key },
    { cert: certB.cert, key: certA.key },
  ]) {
    useCert(broken);
    const refused = count(/reload refused/);
    ic.child.kill('SIGHUP');
    await eventually(() => count(/reload refused/) > refused, 'the reload to be refused');
    assert.equal(ic.child.exitCode, null, 'the interceptor died on a bad certificate');
    assert.equal(await servedFingerprint(), fingerprint(certA.cert));
    const viaCtl = await ctl('reload');
    assert.notEqual(viaCtl.code, 0);
    assert.match(viaCtl.stderr, /^switchyard: [^\n]*certificate[^\n]*\n$/);
  }
  assert.equal((await httpsGet('/', certA.cert)).status, 302);
  const text = await ic.metrics();
  assert.ok(metricValue(text, 'switchyard_interceptor_reloads_total', { result: 'refused' }) >= 5);
  useCert(certA);
});

test('the certificate is read again on reload: new connections get the new one', async () => {
  assert.equal(await servedFingerprint(), fingerprint(certA.cert));
  useCert(certB);
  const r = await ctl('reload');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await servedFingerprint(), fingerprint(certB.cert));
  assert.notEqual(fingerprint(certA.cert), fingerprint(certB.cert));
  // A client that trusts only the new certificate is served, and still only to https.
  const seen = await origins(10, () => httpsGet('/', certB.cert));
  assert.deepEqual([...seen], [DUAL_HTTPS]);
});
