import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSite } from '../../src/config/load.js';
import { seededRandom } from '../../src/core/random.js';
import { decide, parseTarget, safePath } from '../../src/interceptor/decide.js';
import { emptyOverrides } from '../../src/interceptor/overrides.js';
import { SiteState } from '../../src/interceptor/site-state.js';

const SITE = `
interceptor: { listen: 127.0.0.1:0, healthCheck: { enabled: false } }
servers:
  - { name: a, url: http://10.0.0.1:9001, capacity: 1 }
  - { name: b, url: http://10.0.0.2:9002/base/, capacity: 3 }
  - { name: s, public: { http: http://s.example, https: https://s.example:8443 }, internal: http://10.0.0.3 }
applications:
  - { name: shop, match: { pathPrefix: / }, servers: [a, b] }
  - { name: api, match: { pathPrefix: /api }, servers: [b] }
  - { name: bank, match: { host: bank.example, pathPrefix: / }, servers: [s, a], affinity: cookie }
  - { name: wild, match: { host: "*.wild.example", pathPrefix: /w/ }, servers: [a] }
  - { name: off, match: { pathPrefix: /off }, servers: [a], enabled: false }
`;

function state(text = SITE) {
  const l = parseSite(text, 'test.yaml', '.');
  return new SiteState(l.site, l.addresses, l.sorryPages, emptyOverrides(), undefined, 0);
}
const req = (
  url: string,
  extra: Partial<{ method: string; host: string; secure: boolean; cookie: string }> = {},
) => ({
  method: extra.method ?? 'GET',
  url,
  host: extra.host ?? 'shop.example',
  secure: extra.secure ?? false,
  cookie: extra.cookie,
});

test('step 1: longest prefix wins, on segment boundaries; host rules beat any-host', () => {
  const st = state();
  const app = (url: string, host?: string) => {
    const d = decide(st, req(url, { host }), 0, seededRandom(1));
    return d.kind === 'error' ? d.code : d.app.name;
  };
  assert.equal(app('/'), 'shop');
  assert.equal(app('/api'), 'api');
  assert.equal(app('/api/v1?x=1'), 'api');
  assert.equal(app('/apis'), 'shop');
  assert.equal(app('/', 'bank.example'), 'bank');
  assert.equal(app('/', 'BANK.example:443'), 'bank');
  assert.equal(app('/w/x', 'a.wild.example'), 'wild');
  assert.equal(app('/w/x', 'wild.example'), 'shop');
  const none = state(
    SITE.replace('{ name: shop, match: { pathPrefix: / }', '{ name: shop, match: { pathPrefix: /shop }'),
  );
  const d = decide(none, req('/elsewhere'), 0, seededRandom(1));
  assert.equal(d.kind === 'error' && d.code, 'SY_ERR_NO_APPLICATION');
});

test('step 2: a disabled application gets its sorry page', () => {
  const d = decide(state(), req('/off/x'), 0, seededRandom(1));
  assert.equal(d.kind, 'sorry');
  assert.equal(d.kind === 'sorry' && d.reason, 'disabled');
});

test('steps 3-4: the Location is the server base plus the path and query, untouched', () => {
  const st = state();
  const rand = seededRandom(2);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const d = decide(st, req('/p/a%20b?q=1&r=%2F'), i, rand);
    assert.equal(d.kind, 'redirect');
    if (d.kind !== 'redirect') return;
    assert.equal(d.status, 302);
    seen.add(d.location);
  }
  assert.deepEqual([...seen].sort(), [
    'http://10.0.0.1:9001/p/a%20b?q=1&r=%2F',
    'http://10.0.0.2:9002/base/p/a%20b?q=1&r=%2F',
  ]);
});

test('shares follow capacities 1:3', () => {
  const st = state();
  const rand = seededRandom(3);
  let b = 0;
  for (let i = 0; i < 8000; i++) {
    const d = decide(st, req('/'), i, rand);
    if (d.kind === 'redirect' && d.server === 1) b++;
  }
  assert.ok(Math.abs(b / 8000 - 0.75) < 0.02, `share of b ${b / 8000}`);
});

test('methods other than GET and HEAD get 307 so the body is sent again', () => {
  const st = state();
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const d = decide(st, req('/form', { method }), 0, seededRandom(1));
    assert.equal(d.kind === 'redirect' && d.status, 307, method);
  }
  const head = decide(st, req('/', { method: 'HEAD' }), 0, seededRandom(1));
  assert.equal(head.kind === 'redirect' && head.status, 302);
  const s303 = state(SITE.replace('servers: [a, b] }', 'servers: [a, b], redirectStatus: 303 }'));
  const d = decide(s303, req('/'), 0, seededRandom(1));
  assert.equal(d.kind === 'redirect' && d.status, 303);
});

test('a request over TLS goes only to an https address, never downgraded', () => {
  const st = state();
  for (let i = 0; i < 50; i++) {
    const d = decide(st, req('/x', { host: 'bank.example', secure: true }), i, seededRandom(i));
    assert.equal(d.kind === 'redirect' && d.location, 'https://s.example:8443/x');
  }
  // The shop has no https server at all: a secure request there has nowhere to go.
  const d = decide(st, req('/x', { secure: true }), 0, seededRandom(1));
  assert.equal(d.kind === 'sorry' && d.reason, 'no-server');
});

test('affinity: the cookie brings a browser back to its server; a bad cookie is ignored', () => {
  const st = state();
  const first = decide(st, req('/', { host: 'bank.example' }), 0, seededRandom(5));
  assert.equal(first.kind, 'redirect');
  if (first.kind !== 'redirect') return;
  assert.match(first.setCookie ?? '', /^sy_server=(s|a); Path=\/; HttpOnly; SameSite=Lax$/);
  const name = first.setCookie!.split(';')[0]!.split('=')[1]!;
  for (let i = 0; i < 50; i++) {
    const d = decide(
      st,
      req('/', { host: 'bank.example', cookie: `x=1; sy_server=${name}` }),
      i,
      seededRandom(i),
    );
    assert.equal(d.kind === 'redirect' && st.apps[2]!.servers[d.server]!.name, name);
    assert.equal(d.kind === 'redirect' && d.setCookie, undefined);
  }
  // A disabled server is left, and the cookie is replaced.
  const srv = st.servers.get(name)!;
  srv.enabled = false;
  st.updateAvailability(srv, 0);
  const moved = decide(
    st,
    req('/', { host: 'bank.example', cookie: `sy_server=${name}` }),
    0,
    seededRandom(1),
  );
  assert.ok(moved.kind === 'redirect' && st.apps[2]!.servers[moved.server]!.name !== name);
  assert.ok(moved.kind === 'redirect' && moved.setCookie !== undefined);
  const forged = decide(
    st,
    req('/', { host: 'bank.example', cookie: 'sy_server=evil.example' }),
    0,
    seededRandom(1),
  );
  assert.ok(forged.kind === 'redirect' && !forged.location.includes('evil'));
});

test('step 5: no server available gives the sorry outcome', () => {
  const st = state();
  for (const n of ['a', 'b']) {
    const s = st.servers.get(n)!;
    s.health = { up: false, streak: 0, lastError: 'refused' };
    st.updateAvailability(s, 0);
  }
  const d = decide(st, req('/'), 0, seededRandom(1));
  assert.equal(d.kind === 'sorry' && d.reason, 'no-server');
});

test('hostile targets: absolute-form for another host is refused; control bytes are encoded', () => {
  assert.equal(parseTarget('http://evil.example/x', 'shop.example'), undefined);
  assert.equal(parseTarget('*', 'shop.example'), undefined);
  assert.equal(parseTarget('shop.example:443', 'shop.example'), undefined);
  assert.deepEqual(parseTarget('http://shop.example/x?y', 'shop.example'), {
    host: 'shop.example',
    pathAndQuery: '/x?y',
    path: '/x',
  });
  assert.equal(safePath('/a\r\nSet-Cookie: x=1'), '/a%0D%0ASet-Cookie:%20x=1');
  assert.equal(safePath('/caf\u00e9'), '/caf%C3%A9');
  assert.equal(safePath('//evil.example/x'), '/%2Fevil.example/x');
  assert.equal(safePath('/plain?q=1'), '/plain?q=1');
  // Characters that cannot inject a header but are not valid in a URI are encoded too.
  assert.equal(safePath('/a"<>{}|^`#\\b'), '/a%22%3C%3E%7B%7D%7C%5E%60%23%5Cb');
  assert.equal(safePath('/x\ud800y'), '/x%EF%BF%BDy');
  const st = state();
  const d = decide(st, req('//evil.example/'), 0, seededRandom(1));
  assert.ok(
    d.kind === 'redirect' &&
      /^http:\/\/10\.0\.0\.[12]:900[12](\/base)?\/%2Fevil\.example\/$/.test(d.location),
  );
});

test("with the manager's figures each user goes where the wait is shortest; a figure pushed twice counts once", () => {
  const st = state();
  const figures = (busy: number, queueLength: number, serviceTime: number) => ({
    queueLength,
    busy,
    slots: 4,
    queueDelay: 0,
    serviceTime,
    requests: 50,
    errors: 0,
  });
  const load = (age: number) => [
    { server: 'a', L: 10_000, figures: figures(4, 3, 21), age, level: 'normal' as const, failed: false },
    { server: 'b', L: 10_000, figures: figures(2, 0, 20), age, level: 'normal' as const, failed: false },
  ];
  st.applyLoad(load(0), [], 1000);
  const rand = seededRandom(1);
  // a waits (4 + 3 + 1) / 4 x 21 = 42 ms; b (2 + r + 1) / 4 x 20 after r referrals: 40 at r = 5.
  const picks = Array.from({ length: 6 }, () => decide(st, req('/x'), 1000, rand));
  assert.deepEqual(
    picks.map((d) => d.kind === 'redirect' && d.server),
    [1, 1, 1, 1, 1, 1],
  );
  // The tick's push of the same figures, 3 ms of jitter later, is the same report: the six
  // referrals still count, so the seventh goes to a.
  st.applyLoad(load(0), [], 1003);
  assert.equal(st.servers.get('b')!.managed!.measuredAt, 1000);
  const seventh = decide(st, req('/x'), 1003, rand);
  assert.ok(seventh.kind === 'redirect' && seventh.server === 0);
});
