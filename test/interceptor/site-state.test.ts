import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSite } from '../../src/config/load.js';
import type { QueueFigures } from '../../src/core/load-value.js';
import { seededRandom } from '../../src/core/random.js';
import type { ServerPool } from '../../src/core/server-pool.js';
import { decide } from '../../src/interceptor/decide.js';
import { emptyOverrides } from '../../src/interceptor/overrides.js';
import { SiteState } from '../../src/interceptor/site-state.js';
import type { ServerLoad } from '../../src/protocol/messages.js';

/** n servers s0..s(n-1); `all` over every one, `pair` over s0 and s1. */
function state(n: number): SiteState {
  const names = Array.from({ length: n }, (_, i) => `s${i}`);
  const text = [
    'interceptor: { listen: 127.0.0.1:0, healthCheck: { enabled: false }, choice: queue }',
    'servers:',
    ...names.map((s, i) => `  - { name: ${s}, url: http://10.0.${i >> 8}.${i & 255}:9001 }`),
    'applications:',
    `  - { name: all, match: { pathPrefix: / }, servers: [${names.join(', ')}] }`,
    '  - { name: pair, match: { pathPrefix: /pair }, servers: [s0, s1] }',
    '',
  ].join('\n');
  const l = parseSite(text, 'test.yaml', '.');
  return new SiteState(l.site, l.addresses, l.sorryPages, emptyOverrides(), undefined, 0);
}

const figures = (i: number, t: number): QueueFigures => ({
  queueLength: (i + t) % 3 === 0 ? 1 : 0,
  busy: (i * 7 + t) % 5,
  slots: 4,
  queueDelay: 0,
  serviceTime: (i + t) % 4 === 0 ? 0 : 15 + ((i * 13 + t) % 10),
  requests: (i + t) % 4 === 0 ? 0 : 1 + ((i + t) % 3),
  errors: 0,
});

const load = (i: number, t: number): ServerLoad => ({
  server: `s${i}`,
  L: 5000 + ((i * 31 + t) % 50) * 100,
  figures: figures(i, t),
  age: 1,
  level: (i + t) % 17 === 0 ? 'heavy' : 'normal',
  failed: false,
});

/** Records every pool call that touches one server's place: "app:index:method". */
function spy(st: SiteState): string[] {
  const calls: string[] = [];
  for (const app of st.apps) {
    const pool = app.pool as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const method of ['setQueue', 'setDynamic', 'setAvailable', 'setCapacity']) {
      const real = pool[method]!.bind(pool);
      pool[method] = (...a: unknown[]) => {
        calls.push(`${app.name}:${a[0]}:${method}`);
        return real(...a);
      };
    }
    const refresh = (app.pool as ServerPool).refresh.bind(app.pool);
    pool.refresh = (now: unknown) => {
      calls.push(`${app.name}:*:refresh`);
      return refresh(now as number);
    };
  }
  return calls;
}

test('a load message naming one server touches that server in its pools and nothing else, however many servers there are', () => {
  const counts: number[] = [];
  for (const n of [10, 1000]) {
    const st = state(n);
    st.applyLoad(
      Array.from({ length: n }, (_, i) => load(i, 0)),
      [],
      100,
      1,
    );
    const calls = spy(st);
    st.applyLoad([load(5, 1)], [], 110, 1);
    assert.deepEqual(calls, ['all:5:setQueue', 'all:5:setDynamic', 'all:5:setAvailable'], `${n} servers`);
    counts.push(calls.length);

    // A server in two pools: both of its places, nothing else.
    calls.length = 0;
    st.applyLoad([load(0, 2)], [], 120, 1);
    assert.deepEqual(
      [...calls].sort(),
      [
        'all:0:setAvailable',
        'all:0:setDynamic',
        'all:0:setQueue',
        'pair:0:setAvailable',
        'pair:0:setDynamic',
        'pair:0:setQueue',
      ],
      `${n} servers`,
    );

    // An application the manager calls swamped (and then no longer): its members' availability
    // is worked out again, the other application's is not.
    calls.length = 0;
    st.applyLoad([], ['pair'], 130, 1);
    assert.deepEqual(calls, ['pair:0:setAvailable', 'pair:1:setAvailable']);
    assert.equal(st.apps.find((a) => a.name === 'pair')!.swamped, true);
    calls.length = 0;
    st.applyLoad([], ['pair'], 135, 1);
    assert.deepEqual(calls, [], 'still swamped: nothing to do');
    st.applyLoad([], [], 140, 1);
    assert.deepEqual(calls, ['pair:0:setAvailable', 'pair:1:setAvailable']);
    assert.equal(st.apps.find((a) => a.name === 'pair')!.swamped, false);
  }
  assert.equal(counts[0], counts[1], 'the same work for 10 servers as for 1,000');
});

test('applying only what a message names, then the tick, leaves the pools exactly as applying everything did', () => {
  // `full` does what applyLoad did before issue 29: every server aged at every message.
  const n = 40;
  const named = state(n);
  const full = state(n);
  const messages: Array<{ at: number; servers: ServerLoad[]; swamped: string[]; doors: number }> = [];
  for (let t = 0; t < 60; t++) {
    // Agents of ten servers each, in turn; now and then an application swamped, doors changing.
    const agent = t % 4;
    messages.push({
      at: 50 + t * 7,
      servers: Array.from({ length: 10 }, (_, k) => load(agent * 10 + k, t)),
      swamped: t % 13 < 3 ? ['all'] : t % 11 === 0 ? ['pair'] : [],
      doors: t < 30 ? 1 : 2,
    });
  }
  const rNamed = seededRandom(7);
  const rFull = seededRandom(7);
  const picks: Array<[number, number]> = [];
  for (const m of messages) {
    named.applyLoad(m.servers, m.swamped, m.at, m.doors);
    full.applyLoad(m.servers, m.swamped, m.at, m.doors);
    full.refreshManaged(m.at);
    // What no message named is aged by the interceptor's tick (refreshManaged): with a tick at
    // the same instant, the two agree exactly.
    named.refreshManaged(m.at);
    for (const url of ['/', '/pair/x']) {
      const a = decide(
        named,
        { method: 'GET', url, host: 'h', secure: false, cookie: undefined },
        m.at,
        rNamed,
      );
      const b = decide(
        full,
        { method: 'GET', url, host: 'h', secure: false, cookie: undefined },
        m.at,
        rFull,
      );
      picks.push([a.kind === 'redirect' ? a.server : -1, b.kind === 'redirect' ? b.server : -1]);
    }
  }
  assert.deepEqual(
    picks.map((p) => p[0]),
    picks.map((p) => p[1]),
  );
  for (const [i, app] of named.apps.entries())
    for (let k = 0; k < app.servers.length; k++)
      assert.deepEqual(app.pool.breakdown(k, 500), full.apps[i]!.pool.breakdown(k, 500), `${app.name} ${k}`);
});
