import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DemoServer, startDemoServer } from '../../src/demo/server.js';
import type { ExplainView, StatusView } from '../../src/interceptor/views.js';
import { freePorts } from '../../src/lab/free-ports.js';
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
 * `switchyard ctl` against a real interceptor process: every command, its effect on real
 * redirects, and the exit codes scripts rely on (0 ok, 1 refused, 2 usage, 3 unreachable,
 * 4 token).
 */

let a: DemoServer;
let b: DemoServer;
let ic: RunningInterceptor;
let dir: string;

const site = (bCapacity = 3) => `
interceptor:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
servers:
  - { name: a, url: ${a.url}, capacity: 1 }
  - { name: b, url: ${b.url}, capacity: ${bCapacity} }
applications:
  - { name: shop, match: { pathPrefix: / }, servers: [a, b] }
  - { name: blog, match: { host: blog.example }, servers: [b] }
`;

before(async () => {
  a = await startDemoServer({ port: 0, name: 'a' });
  b = await startDemoServer({ port: 0, name: 'b' });
  dir = tempDir({ 'sorry.html': '<h1>Back soon</h1>\n' });
  writeFileSync(join(dir, 'site.yaml'), site());
  ic = await startInterceptorCli(join(dir, 'site.yaml'));
});

after(async () => {
  await ic?.stop();
  await Promise.all([a?.close(), b?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ctl = (...args: string[]) =>
  runCli(['ctl', '--admin', ic.adminUrl, ...args], { SWITCHYARD_TOKEN: TEST_TOKEN });

/** Runs ctl and expects exit 0 with nothing on stderr; returns stdout. */
async function ok(...args: string[]): Promise<string> {
  const r = await ctl(...args);
  assert.equal(r.code, 0, `ctl ${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return r.stdout;
}

/** Runs ctl and expects the exit code with exactly one line on stderr; returns that line. */
async function fails(code: number, run: Promise<{ code: number | null; stdout: string; stderr: string }>) {
  const r = await run;
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^switchyard: [^\n]+\n$/, `not one line: ${JSON.stringify(r.stderr)}`);
  return r.stderr;
}

/** The status straight from the admin endpoint (ctl's own output is checked in the first test). */
const status = async () => (await ic.admin<StatusView>('GET', '/status')).json;
const server = (s: StatusView, name: string) => s.servers.find((x) => x.name === name)!;
const app = (s: StatusView, name: string) => s.applications.find((x) => x.name === name)!;

/** Which servers `n` requests for `host` are sent to, with counts. */
async function spread(n: number, host = 'shop.example'): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r: Answer = await httpRequest(`${ic.url}/p`, { headers: { host } });
    assert.equal(r.status, 302, r.body);
    const origin = new URL(String(r.headers.location)).origin;
    const name = origin === a.url ? 'a' : origin === b.url ? 'b' : assert.fail(`unknown ${origin}`);
    seen.set(name, (seen.get(name) ?? 0) + 1);
  }
  return seen;
}

test('status prints tables, and the same facts as JSON with --json', async () => {
  const [table, json] = await Promise.all([ok('status'), ok('status', '--json')]);
  const lines = table.split('\n');
  assert.match(lines[0]!, /^APPLICATION\s+ENABLED\s+IN-FLIGHT\s+CHOICE\s+SERVERS\s+OVERRIDES$/);
  // No manager here: the interval choice places every request, and says why.
  assert.match(table, /^shop\s+yes\s+0\/1000\s+interval\s+a 25%; b 75%\s+-$/m);
  assert.match(table, /^blog\s+yes\s+0\/1000\s+interval\s+b 100%\s+-$/m);
  assert.match(table, /^shop: interval choice: .*not every server has queue figures/m);
  assert.match(
    table,
    /^SERVER\s+ENABLED\s+HEALTH\s+CAPACITY\s+LM\s+L\s+LEVEL\s+QUEUE\s+BUSY\s+DELAY MS\s+AGE MS\s+URL\s+OVERRIDES$/m,
  );
  const dashes = '(?:-\\s+){6}';
  assert.match(table, new RegExp(`^a\\s+yes\\s+up\\s+1\\s+1000\\s+${dashes}${a.url}\\s+-$`, 'm'));
  assert.match(table, new RegExp(`^b\\s+yes\\s+up\\s+3\\s+3000\\s+${dashes}${b.url}\\s+-$`, 'm'));

  const s1 = JSON.parse(json) as StatusView;
  assert.deepEqual(app(s1, 'shop'), {
    name: 'shop',
    enabled: true,
    inFlight: 0,
    maxConcurrent: 1000,
    choice: 'interval',
    choiceWhy: 'the interval choice on each load metric: not every server has queue figures younger than T',
    roundTripMs: 80, // the setting, until figures teach it
    servers: [
      { name: 'a', share: 0.25, recent: 0 },
      { name: 'b', share: 0.75, recent: 0 },
    ],
    overrides: [],
    mode: 'redirect',
  });
  const sa = server(s1, 'a');
  assert.deepEqual(
    [sa.enabled, sa.health, sa.capacity, sa.LM, sa.url, sa.overrides],
    [true, 'up', 1, 1000, { http: a.url, internal: a.url }, []],
  );
});

test('enable and disable an application and a server; redirects follow at once', async (t) => {
  t.after(() => ic.admin('POST', '/reset'));
  assert.equal(await ok('disable', 'app', 'shop'), 'app shop disabled\n');
  const off = await httpRequest(`${ic.url}/p`);
  assert.equal(off.status, 503);
  assert.equal(off.headers['x-switchyard-reason'], 'application disabled');
  assert.deepEqual(app(await status(), 'shop').overrides, ['enabled']);
  assert.equal(await ok('enable', 'application', 'shop'), 'application shop enabled\n');
  assert.equal((await httpRequest(`${ic.url}/p`)).status, 302);

  assert.equal(await ok('disable', 'server', 'a'), 'server a disabled\n');
  assert.deepEqual([...(await spread(40)).keys()], ['b']);
  const s = await status();
  assert.equal(server(s, 'a').enabled, false);
  const [sa, sb] = app(s, 'shop').servers;
  assert.deepEqual([sa!.share, sb!.share], [0, 1]);
  // What the interceptor did lately: all 40 to b (one request before them may have gone to a).
  assert.ok(sb!.recent > 0.95 && sa!.recent < 0.05, `recent shares ${sa!.recent} / ${sb!.recent}`);
  assert.equal(await ok('enable', 'server', 'a'), 'server a enabled\n');
  assert.deepEqual([...(await spread(60)).keys()].sort(), ['a', 'b']);
});

test('capacity changes the shares of new requests', async (t) => {
  t.after(() => ic.admin('POST', '/reset'));
  assert.equal(await ok('capacity', 'a', '3'), 'capacity of a set to 3\n');
  const s = await status();
  assert.equal(server(s, 'a').capacity, 3);
  assert.deepEqual(server(s, 'a').overrides, ['capacity']);
  assert.deepEqual(
    app(s, 'shop').servers.map((x) => [x.name, x.share]),
    [
      ['a', 0.5],
      ['b', 0.5],
    ],
  );
  const got = await spread(400);
  const shareA = (got.get('a') ?? 0) / 400;
  assert.ok(Math.abs(shareA - 0.5) < 0.1, `a got ${shareA} of the requests, expected 0.5`);
});

test('sorry sets the page a disabled application answers with', async (t) => {
  t.after(() => ic.admin('POST', '/reset'));
  const file = join(dir, 'sorry.html');
  const [set, disabled, missing] = await Promise.all([
    ok('sorry', 'blog', file),
    ok('disable', 'app', 'blog'),
    fails(1, ctl('sorry', 'blog', join(dir, 'nope.html'))),
  ]);
  assert.equal(set, `sorry page of blog set from ${file}\n`);
  assert.equal(disabled, 'app blog disabled\n');
  assert.match(missing, /cannot read/);
  const r = await httpRequest(`${ic.url}/`, { headers: { host: 'blog.example' } });
  assert.equal(r.status, 503);
  assert.equal(r.body, '<h1>Back soon</h1>\n');
  assert.deepEqual(app(await status(), 'blog').overrides.sort(), ['enabled', 'sorryPage']);
});

test('explain names the application, the servers and their shares, and moves no counter', async () => {
  const before = await status();
  const picksBefore = await ic.metrics();

  const [text, jsonText] = await Promise.all([
    ok('explain', '/item?x=1', '--host', 'shop.example'),
    ok('--json', 'explain', 'http://blog.example/x?y=2'),
  ]);
  assert.match(text, /^shop\.example \/item\?x=1\n/);
  assert.match(text, /^application: shop: longest matching path prefix "\/" for any host$/m);
  assert.match(text, /^a\s+yes\s+up\s+1\s+1000\s.*\s25\.0%\s+-$/m);
  assert.match(text, /^b\s+yes\s+up\s+3\s+3000\s.*\s75\.0%\s+-$/m);
  assert.match(
    text,
    new RegExp(`^outcome: 302 .*${a.url}/item\\?x=1 \\(25\\.0%\\), ${b.url}/item\\?x=1 \\(75\\.0%\\)$`, 'm'),
  );

  const json = JSON.parse(jsonText) as ExplainView;
  assert.equal(json.application, 'blog');
  assert.equal(json.host, 'blog.example');
  assert.equal(json.url, '/x?y=2');
  assert.deepEqual(
    json.servers.map((s) => [s.name, s.share]),
    [['b', 1]],
  );

  const after = await status();
  for (const name of ['a', 'b']) {
    assert.equal(server(after, name).referrals, server(before, name).referrals, `referrals of ${name}`);
    const picks = (t: string) => metricValue(t, 'switchyard_interceptor_picks_total', { server: name });
    assert.equal(picks(await ic.metrics()), picks(picksBefore), `picks of ${name}`);
  }
});

test('overrides survive a reload (ctl and SIGHUP) and reset drops them all', async () => {
  // Set through the admin endpoint directly: the commands themselves are tested above.
  assert.equal((await ic.admin('POST', '/servers/a/disable')).status, 200);
  assert.equal((await ic.admin('PUT', '/servers/b/capacity', { capacity: 5 })).status, 200);
  assert.equal((await ic.admin('POST', '/applications/blog/disable')).status, 200);
  // The file changes b's capacity; the operator's value stays on top of it.
  writeFileSync(join(dir, 'site.yaml'), site(2));
  assert.equal(await ok('reload'), 'site file reloaded\n');
  const applied = (ic.output().match(/reload applied/g) ?? []).length;
  ic.child.kill('SIGHUP');
  await eventually(() => (ic.output().match(/reload applied/g) ?? []).length > applied, 'the SIGHUP reload');

  const kept = await status();
  assert.deepEqual([server(kept, 'a').enabled, server(kept, 'a').overrides], [false, ['enabled']]);
  assert.deepEqual([server(kept, 'b').capacity, server(kept, 'b').overrides], [5, ['capacity']]);
  assert.equal(app(kept, 'blog').enabled, false);
  assert.deepEqual([...(await spread(20)).keys()], ['b']);
  assert.equal((await httpRequest(`${ic.url}/`, { headers: { host: 'blog.example' } })).status, 503);

  assert.equal(await ok('reset'), 'overrides dropped\n');
  const reset = await status();
  for (const s of reset.servers) assert.deepEqual([s.name, s.enabled, s.overrides], [s.name, true, []]);
  for (const x of reset.applications) assert.deepEqual([x.name, x.enabled, x.overrides], [x.name, true, []]);
  assert.equal(server(reset, 'b').capacity, 2, 'the capacity from the reloaded file');
  assert.deepEqual([...(await spread(60)).keys()].sort(), ['a', 'b']);
  assert.equal((await httpRequest(`${ic.url}/`, { headers: { host: 'blog.example' } })).status, 302);
  writeFileSync(join(dir, 'site.yaml'), site());
  assert.equal((await ic.admin('POST', '/reload')).status, 200);
});

test('failures: one line on stderr and the documented exit code', async () => {
  // A port that was free a moment ago, below the ephemeral range: nothing listens there.
  const [port] = await freePorts(1);

  const results = await Promise.all([
    fails(
      3,
      runCli(['ctl', '--admin', `http://127.0.0.1:${port}`, 'status'], { SWITCHYARD_TOKEN: TEST_TOKEN }),
    ),
    fails(4, runCli(['ctl', '--admin', ic.adminUrl, 'status'], { SWITCHYARD_TOKEN: 'wrong' })),
    fails(4, runCli(['ctl', '--admin', ic.adminUrl, 'disable', 'server', 'a'], { SWITCHYARD_TOKEN: '' })),
    fails(1, ctl('disable', 'server', 'nope')),
    fails(2, ctl('disable', 'gadget', 'a')),
    fails(2, ctl('capacity', 'a', '11')),
    fails(2, ctl('frobnicate')),
    fails(2, runCli(['ctl', 'status'], { SWITCHYARD_TOKEN: TEST_TOKEN })),
  ]);
  assert.match(results[0]!, new RegExp(`cannot reach .*127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
  assert.match(results[1]!, /admin token was refused/);
  assert.match(results[2]!, /no admin token/);
  assert.match(results[3]!, /no server named "nope"/);
  assert.match(results[4]!, /expected "app" or "server", got "gadget"/);
  assert.match(results[5]!, /capacity: expected a number from 1 to 10, got "11"/);
  assert.match(results[6]!, /unknown command 'frobnicate'/);
  assert.match(results[7]!, /--config site\.yaml, --admin http:\/\/host:port or --manager/);
  // None of them changed anything.
  const s = await status();
  assert.ok(s.servers.every((x) => x.enabled && x.overrides.length === 0));
});

test('without SWITCHYARD_TOKEN the token is generated beside the site file, where ctl finds it', async (t) => {
  const own = tempDir();
  t.after(() => rmSync(own, { recursive: true, force: true }));
  writeFileSync(join(own, 'site.yaml'), site());
  const other = await startInterceptorCli(join(own, 'site.yaml'), { SWITCHYARD_TOKEN: '' });
  t.after(() => other.stop());
  const file = join(own, '.switchyard', 'admin-token');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const r = await runCli(['ctl', '--config', join(own, 'site.yaml'), '--admin', other.adminUrl, 'status'], {
    SWITCHYARD_TOKEN: '',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^shop\s+yes/m);
  const token = readFileSync(file, 'utf8').trim();
  assert.ok(token.length >= 20);
  assert.ok(!other.output().includes(token), 'the token must never be logged');
});

test('shutdown stops the interceptor, which exits 0', async () => {
  assert.equal(await ok('shutdown'), 'interceptor shutting down\n');
  const code = await eventually(() => ic.child.exitCode ?? undefined, 'the interceptor to exit');
  assert.equal(code, 0);
  assert.match(ic.output(), /shutdown requested through the admin endpoint/);
  assert.match(ic.output(), /interceptor stopped/);
  await fails(3, ctl('status'));
});
