import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type Database from 'better-sqlite3';
import { LinkClient } from '../../src/link/link-client.js';
import { operatorProof } from '../../src/protocol/operator-proof.js';
import {
  eventually,
  httpRequest,
  metricValue,
  openDatabase,
  quiet,
  type RunningInterceptor,
  runCli,
  startCli,
  TEST_TOKEN,
} from '../helpers.js';
import {
  freePorts,
  KEYS,
  type RunningSite,
  serverStatus,
  share,
  startSite,
  status,
  untilServer,
} from './site.js';

/**
 * What operators do to a running site, with real processes on 127.0.0.1: a manager, one
 * agent, three demo servers behind the interface and two interceptors (ic-1, ic-2: two site
 * files that differ only in the interceptor section). Overrides set at one interceptor live
 * in the manager and reach the other; a restarted agent's batches are all stored; an
 * interceptor started without a manager works alone and connects once it is up. The tests
 * run in order on one site.
 */

describe('operators and restarts', { timeout: 180_000 }, () => {
  let site: RunningSite;
  before(async () => {
    site = await startSite({
      servers: [
        { name: 'web-a', slots: 4, serviceTime: 2 },
        { name: 'web-b', slots: 4, serviceTime: 2 },
        { name: 'web-c', slots: 4, serviceTime: 2 },
      ],
      interceptors: 2,
      // Small batches, so a few requests make many sequence numbers.
      agentBatch: '{ records: 5, age: 300ms }',
    });
  });
  after(() => site?.stop());

  const ctl = (i: number, ...args: string[]) =>
    runCli(['ctl', '--config', site.files[i]!, ...args], { SWITCHYARD_TOKEN: TEST_TOKEN });
  /** One read-only look at the manager's store (only while the manager runs). */
  const readStore = <T>(fn: (db: Database.Database) => T): T => {
    const db = openDatabase(join(site.dataDir, 'switchyard.db'), { readonly: true, fileMustExist: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  /** The stored overrides' values, without their versions (`_v`) and the last reset's row. */
  const storedOverrides = () =>
    readStore(
      (db) =>
        db
          .prepare("SELECT kind, name, value FROM overrides WHERE kind != 'site' ORDER BY kind, name")
          .all() as Array<{
          kind: string;
          name: string;
          value: string;
        }>,
    ).map((r) => {
      const { _v, ...value } = JSON.parse(r.value);
      return { ...r, value: JSON.stringify(value) };
    });
  const records = (like: string) =>
    readStore(
      (db) =>
        db
          .prepare('SELECT count(*) AS n, count(DISTINCT path) AS d FROM records WHERE path LIKE ?')
          .get(like) as { n: number; d: number },
    );
  const storedSeq = () =>
    readStore(
      (db) =>
        (
          db
            .prepare("SELECT stored_seq AS seq FROM components WHERE role = 'agent' AND id = 'host-1'")
            .get() as { seq: number } | undefined
        )?.seq ?? 0,
    );
  const direct = (server: string, path: string) =>
    httpRequest(`http://127.0.0.1:${site.ports.get(server)}${path}`, { method: 'GET' });
  const serverAt = (location: string) => {
    const port = Number(new URL(location).port);
    return [...site.ports].find(([, p]) => p === port)?.[0];
  };

  /** web-c's capacity in the site file, from before any override. */
  let fileCapacity = 0;

  test('an override made with ctl is kept by the manager and reaches every interceptor', async () => {
    const [ic1, ic2] = site.ics as [RunningInterceptor, RunningInterceptor];
    for (const ic of site.ics) {
      const st = await status(ic);
      for (const s of st.servers) {
        assert.equal(s.enabled, true, `${s.name} enabled at the start`);
        assert.deepEqual(s.overrides, []);
      }
    }
    fileCapacity = serverStatus(await status(ic1), 'web-c').capacity;
    assert.deepEqual(storedOverrides(), []);

    // ctl finds the manager in the site file (token from SWITCHYARD_TOKEN) and asks it.
    const r = await ctl(0, 'disable', 'server', 'web-b');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /server web-b disabled/);
    const said = readStore(
      (db) =>
        db.prepare("SELECT text FROM events WHERE code = 'override.changed'").all() as Array<{
          text: string;
        }>,
    );
    assert.match(said.at(-1)!.text, /from ctl at 127\.0\.0\.1: server web-b: disabled/);
    const seen = await untilServer(ic2, 'web-b', (s) => !s.enabled, 'ic-2 to see web-b disabled', 5000);
    assert.deepEqual(serverStatus(seen, 'web-b').overrides, ['enabled']);
    assert.equal(share(seen, 'web-b'), 0);
    for (let i = 0; i < 20; i++) {
      const a = await httpRequest(`${ic2.url}/o${i}`, { method: 'GET' });
      assert.equal(a.status, 302);
      assert.notEqual(serverAt(a.headers.location as string), 'web-b');
    }
    // The manager stored it before it told the interceptors.
    assert.deepEqual(storedOverrides(), [{ kind: 'server', name: 'web-b', value: '{"enabled":false}' }]);

    // Through an interceptor's admin endpoint (a script may still use it): it reaches the other.
    const c = await ic2.admin('PUT', '/servers/web-c/capacity', { capacity: 7 });
    assert.equal(c.status, 200, JSON.stringify(c.json));
    const seen1 = await untilServer(ic1, 'web-c', (s) => s.capacity === 7, 'ic-1 to see web-c at 7', 5000);
    assert.deepEqual(serverStatus(seen1, 'web-c').overrides, ['capacity']);
    assert.equal(serverStatus(seen1, 'web-b').enabled, false, 'the first override stays at ic-1');
    assert.deepEqual(storedOverrides(), [
      { kind: 'server', name: 'web-b', value: '{"enabled":false}' },
      { kind: 'server', name: 'web-c', value: '{"capacity":7}' },
    ]);
  });

  test('a restarted manager keeps the overrides and pushes them again', async () => {
    // ic-2 goes too and comes back as a new process: all it knows is its site file, so
    // whatever overrides it shows came from the restarted manager.
    await Promise.all([site.manager.stop('SIGKILL'), site.ics[1]!.stop('SIGKILL')]);
    site.manager = await site.startManager();
    const ic2 = await site.startInterceptor(1);
    site.ics[1] = ic2;
    const st = await untilServer(
      ic2,
      'web-b',
      (s, all) => !s.enabled && serverStatus(all, 'web-c').capacity === 7,
      'the new ic-2 to get the overrides from the restarted manager',
      5000,
    );
    assert.deepEqual(serverStatus(st, 'web-b').overrides, ['enabled']);
    assert.deepEqual(serverStatus(st, 'web-c').overrides, ['capacity']);
    // ic-1 lived through it, reconnected, and still has both.
    const ic1 = site.ics[0]!;
    await ic1.waitFor(/connected to the manager[\s\S]*connected to the manager/, 'ic-1 to reconnect', 15_000);
    const st1 = await status(ic1);
    assert.equal(serverStatus(st1, 'web-b').enabled, false);
    assert.equal(serverStatus(st1, 'web-c').capacity, 7);
    assert.equal(storedOverrides().length, 2);
  });

  test("a reload of an interceptor's site file keeps the manager's overrides", async () => {
    const ic2 = site.ics[1]!;
    // The new file says web-b is enabled (as before) and has capacity 2 (new).
    const file = site.files[1]!;
    const text = readFileSync(file, 'utf8');
    const line = /\{ name: web-b, url: (http:\/\/127\.0\.0\.1:\d+) \}/;
    assert.match(text, line);
    writeFileSync(file, text.replace(line, '{ name: web-b, url: $1, enabled: true, capacity: 2 }'));
    const r = await ctl(1, 'reload');
    assert.equal(r.code, 0, r.stderr);
    const st = await status(ic2);
    const b = serverStatus(st, 'web-b');
    assert.equal(b.capacity, 2, 'the reload applied');
    assert.equal(b.enabled, false, "the manager's override stays on top of the file");
    assert.deepEqual(b.overrides, ['enabled']);
    assert.equal(serverStatus(st, 'web-c').capacity, 7);
    assert.equal(share(st, 'web-b'), 0);
    assert.match(ic2.output(), /reload applied/);
  });

  test('ctl reset drops the overrides at every interceptor and in the store', async () => {
    const [ic1, ic2] = site.ics as [RunningInterceptor, RunningInterceptor];
    const r = await ctl(1, 'reset');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /overrides dropped/);
    const clear = (ic: RunningInterceptor, name: string) =>
      eventually(
        async () => {
          const st = await status(ic);
          const ok = st.servers.every((s) => s.enabled && s.overrides.length === 0);
          return ok ? st : undefined;
        },
        `${name} to drop every override`,
        5000,
      );
    const [st1, st2] = await Promise.all([clear(ic1, 'ic-1'), clear(ic2, 'ic-2')]);
    assert.equal(serverStatus(st1, 'web-c').capacity, fileCapacity);
    assert.equal(serverStatus(st2, 'web-c').capacity, fileCapacity);
    assert.equal(serverStatus(st2, 'web-b').capacity, 2, "ic-2's own site file still counts");
    assert.ok(share(st1, 'web-b') > 0);
    assert.deepEqual(storedOverrides(), []);
  });

  test('two changes to one server at the same moment, from two interceptors, are both kept', async () => {
    const [ic1, ic2] = site.ics as [RunningInterceptor, RunningInterceptor];
    const both = '{"capacity":7,"enabled":false}';
    const changes = () =>
      readStore(
        (db) =>
          (
            db.prepare("SELECT count(*) AS n FROM events WHERE code = 'override.changed'").get() as {
              n: number;
            }
          ).n,
      );
    /** web-b's stored override with its keys in order, once the manager has handled `n` changes. */
    const settled = async (n: number) => {
      await eventually(() => changes() >= n, 'the manager to handle both changes', 5000);
      const row = storedOverrides().find((r) => r.name === 'web-b');
      if (!row) return undefined;
      const v = JSON.parse(row.value) as Record<string, unknown>;
      return JSON.stringify(Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))));
    };
    try {
      // The race needs the second change to arrive while the first is being stored; it shows
      // in about one round in four here, so 30 rounds make it all but certain to show.
      for (let round = 0; round < 30; round++) {
        if (round > 0) {
          const before = changes();
          const r = await ic1.admin('POST', '/reset');
          assert.equal(r.status, 200);
          // The reset is an override change too: wait for its event, or it would be counted
          // as one of this round's two.
          await eventually(
            () => storedOverrides().length === 0 && changes() > before,
            'the reset in the store',
            3000,
          );
        }
        const n = changes();
        const [d, c] = await Promise.all([
          ic1.admin('POST', '/servers/web-b/disable'),
          ic2.admin('PUT', '/servers/web-b/capacity', { capacity: 7 }),
        ]);
        assert.equal(d.status, 200);
        assert.equal(c.status, 200);
        assert.equal(await settled(n + 2), both, `round ${round}: what the manager kept`);
      }
      for (const ic of site.ics)
        await untilServer(
          ic,
          'web-b',
          (s) => !s.enabled && s.capacity === 7,
          'web-b disabled at capacity 7 at both interceptors',
          3000,
        );
    } finally {
      // Whatever happened, the next tests start without overrides.
      await ic1.admin('POST', '/reset');
      await eventually(() => storedOverrides().length === 0, 'no overrides in the store', 5000);
      for (const ic of site.ics)
        await eventually(
          async () => (await status(ic)).servers.every((s) => s.enabled && s.overrides.length === 0),
          'every interceptor without overrides',
          5000,
        );
    }
  });

  test('a restarted agent numbers its batches after what the manager stored: nothing is dropped', async () => {
    // Enough records for several batches (5 records each) from the first agent process.
    const B = 40;
    for (let i = 0; i < B; i++) assert.equal((await direct('web-a', `/before/${i}`)).status, 200);
    await eventually(() => records('/before/%').n >= B, 'the first records in the store', 10_000);
    const storedBefore = storedSeq();
    assert.ok(storedBefore >= 8, `stored sequence number ${storedBefore}`);

    await site.agent.stop('SIGKILL');
    site.agent = await site.startAgent();
    // The demo servers' interfaces find the new agent by themselves.
    await Promise.all(
      [...site.ports.keys()].map((s) =>
        site.agent.waitFor(new RegExp(`interface of ${s} connected`), `${s} to reach the new agent`, 10_000),
      ),
    );
    // The new process numbers from 1; the manager has storedBefore from the old one.
    const N = 30;
    for (let i = 0; i < N; i++) {
      const server = ['web-a', 'web-b', 'web-c'][i % 3]!;
      assert.equal((await direct(server, `/after-restart/${i}`)).status, 200);
    }
    const counts = await eventually(
      () => {
        const c = records('/after-restart/%');
        return c.n >= N ? c : undefined;
      },
      'the records sent after the agent restart in the store',
      10_000,
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}; stored ${JSON.stringify(records('/after-restart/%'))}, seq ${storedSeq()} (was ${storedBefore})`,
      );
    });
    assert.deepEqual(counts, { n: N, d: N }, 'each exactly once');
    assert.ok(storedSeq() > storedBefore, 'numbering went on from the stored number');
    assert.deepEqual(records('/before/%'), { n: B, d: B });
  });

  test('an interceptor started while the manager is down works on static capacities, then connects', async () => {
    await Promise.all([site.manager.stop('SIGKILL'), site.ics[1]!.stop('SIGKILL')]);
    const ic = await site.startInterceptor(1, { waitForManager: false });
    site.ics[1] = ic;
    await ic.waitFor(/link to the manager at \S+ is down/, 'ic-2 to find no manager');
    const st = await status(ic);
    for (const s of st.servers) {
      assert.equal(s.manager, undefined, `${s.name}: nothing from a manager`);
      assert.equal(s.enabled, true);
    }
    // Shares follow the static capacities alone (web-b has 2 in ic-2's file since the reload).
    const total = st.servers.reduce((sum, s) => sum + s.capacity, 0);
    assert.equal(serverStatus(st, 'web-b').capacity, 2);
    for (const s of st.servers)
      assert.ok(
        Math.abs(share(st, s.name) - s.capacity / total) < 0.01,
        `${s.name} share ${share(st, s.name)}`,
      );
    const hits = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const r = await httpRequest(`${ic.url}/alone/${i}`, { method: 'GET' });
      assert.equal(r.status, 302);
      const server = serverAt(r.headers.location as string);
      assert.ok(server, `a configured server: ${r.headers.location}`);
      hits.set(server, (hits.get(server) ?? 0) + 1);
    }
    // Expected about 15, 30, 15: far from the bounds even for plain random picks.
    const got = JSON.stringify([...hits]);
    assert.ok((hits.get('web-b') ?? 0) >= 18, `web-b (capacity 2) got ${got}`);
    for (const s of ['web-a', 'web-c']) assert.ok((hits.get(s) ?? 0) >= 5, `${s} got ${got}`);
    assert.doesNotMatch(ic.output(), /connected to the manager/);

    // An operator change made meanwhile: ctl cannot reach the manager, says so, and makes it
    // at the interceptor, which keeps it and gives it to the manager once it is up.
    const d = await ctl(1, 'disable', 'server', 'web-a');
    assert.equal(d.code, 0, d.stderr);
    assert.match(
      d.stderr,
      /^switchyard: cannot reach the manager's admin endpoint at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); made the change at the interceptor \(http:\/\/127\.0\.0\.1:\d+\) instead, which passes it on when the manager is back\n$/,
    );
    assert.equal(serverStatus(await status(ic), 'web-a').enabled, false);

    site.manager = await site.startManager();
    await ic.waitFor(/connected to the manager/, 'ic-2 to connect once the manager is up', 15_000);
    await untilServer(
      ic,
      'web-a',
      (s) => !s.enabled && s.manager !== undefined,
      'ic-2 to have figures from the manager and web-a still disabled',
      10_000,
    );
    await untilServer(
      site.ics[0]!,
      'web-a',
      (s) => !s.enabled && s.overrides.includes('enabled'),
      'ic-1 to hear of the change made at ic-2 while the manager was down',
      15_000,
    );
    assert.deepEqual(storedOverrides(), [{ kind: 'server', name: 'web-a', value: '{"enabled":false}' }]);
  });

  test("ctl manager shows the manager's view; the manager refuses unknown names and wrong tokens", async () => {
    const m = await ctl(0, '--json', 'manager');
    assert.equal(m.code, 0, m.stderr);
    const view = JSON.parse(m.stdout) as {
      agents: Array<{ name: string; connected: boolean }>;
      interceptors: string[];
      servers: Array<{ server: string; L: number; level: string }>;
      overrides: { servers: Record<string, { enabled?: boolean }> };
    };
    assert.deepEqual(
      view.agents.map((a) => [a.name, a.connected]),
      [['host-1', true]],
    );
    // Neither site file names its interceptor: each connects as host:port and both stay.
    assert.deepEqual([...view.interceptors].sort(), site.ics.map((ic) => `${hostname()}:${ic.port}`).sort());
    const duels = readStore(
      (db) =>
        db.prepare("SELECT count(*) AS n FROM events WHERE code = 'link.duplicate-name'").get() as {
          n: number;
        },
    );
    assert.equal(duels.n, 0);
    assert.deepEqual(view.servers.map((x) => x.server).sort(), ['web-a', 'web-b', 'web-c']);
    const a = view.overrides.servers['web-a'] as {
      enabled?: boolean;
      origins?: Record<string, { by: string }>;
    };
    assert.equal(a.enabled, false);
    assert.match(a.origins?.enabled?.by ?? '', /^interceptor /, 'where the override that stands came from');
    assert.deepEqual(Object.keys(view.overrides.servers), ['web-a']);
    const table = await ctl(0, 'manager');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^SERVER +L +AVERAGE +LEVEL/m);
    assert.match(table.stdout, /server web-a: disabled \(interceptor [^,]+, \d\d:\d\d:\d\d UTC\)/);
    // Every interceptor's status says which change stands and where it was made (issue 28).
    for (const i of [0, 1]) {
      const st = await ctl(i, 'status');
      assert.equal(st.code, 0, st.stderr);
      assert.match(
        st.stdout,
        /^overrides: \n {2}server web-a: enabled false \(interceptor [^,]+, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$/m,
      );
      const json = JSON.parse((await ctl(i, '--json', 'status')).stdout) as {
        overrides: Array<{ target: string; name: string; field: string; value: string; by?: string }>;
      };
      assert.deepEqual(
        json.overrides.map((o) => [o.target, o.name, o.field, o.value]),
        [['server', 'web-a', 'enabled', 'false']],
      );
      assert.match(json.overrides[0]?.by ?? '', /^interceptor /);
    }

    const unknown = await ctl(0, 'disable', 'server', 'web-x');
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'switchyard: no server named "web-x" in the site file\n');
    const wrong = await runCli(['ctl', '--config', site.files[0]!, 'enable', 'server', 'web-a'], {
      SWITCHYARD_TOKEN: 'not-the-token',
    });
    assert.equal(wrong.code, 4, wrong.stderr);
    assert.match(wrong.stderr, /admin token was refused/);
    assert.deepEqual(storedOverrides(), [{ kind: 'server', name: 'web-a', value: '{"enabled":false}' }]);
    const refused = await fetch(`http://127.0.0.1:${site.managerPort}/status`);
    assert.equal(refused.status, 401);
    assert.match(
      ((await refused.json()) as { error: { message: string } }).error.message,
      /which is in (the SWITCHYARD_TOKEN variable|\/.+)/,
    );
    // SIGHUP reloads nothing in the manager: said, and it goes on (it used to exit at once).
    site.manager.child.kill('SIGHUP');
    await site.manager.waitFor(/SIGHUP received and ignored/, 'the manager to say it ignores SIGHUP');
    assert.equal((await fetch(`http://127.0.0.1:${site.managerPort}/healthz`)).status, 200);
    // A malformed path is the client's error (400), at the override and start/stop routes alike.
    for (const path of ['/servers/%E0%A4%A/disable', '/servers/%E0%A4%A/stop']) {
      const bad = await fetch(`http://127.0.0.1:${site.managerPort}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_TOKEN}` },
      });
      assert.equal(bad.status, 400, path);
      assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'SY_ERR_BAD_REQUEST');
    }

    // Start and stop travel manager → agent → interface, and the answer comes back: these demo
    // servers have the interface inside (no sidecar running them), which says so.
    const stop = await ctl(0, 'stop-server', 'web-c');
    assert.equal(stop.code, 1);
    assert.match(stop.stderr, /^switchyard: stop web-c: the interface of web-c runs no web server process/);
    const none = await ctl(0, 'stop-server', 'web-x');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no server named "web-x"/);
  });

  test('a second manager on a port already taken says so in one line and exits 2', async () => {
    const r = await runCli(
      ['manager', '--config', site.file, '--data-dir', join(site.dir, 'second-data')],
      site.env,
    );
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `switchyard: cannot listen on 127.0.0.1:${site.managerPort}: the address is already in use\n`,
    );
  });

  test('two interceptors under one name: the manager names the clash, and a bad --name is refused', async () => {
    const bad = await runCli(['interceptor', '--config', site.files[1]!, '--name', 'two words'], site.env);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /^switchyard: interceptor: --name "two words": use letters/);

    // A copy of ic-2's site file on other ports, told to take ic-1's name.
    const [listen, admin] = await freePorts(2);
    const text = readFileSync(site.files[1]!, 'utf8')
      .replace(/listen: 127\.0\.0\.1:\d+/, `listen: 127.0.0.1:${listen}`)
      .replace(/admin: 127\.0\.0\.1:\d+/, `admin: 127.0.0.1:${admin}`);
    const file = join(site.dir, 'same-name.yaml');
    writeFileSync(file, text);
    const name = `${hostname()}:${site.ics[0]!.port}`;
    const twin = startCli(['interceptor', '--config', file, '--name', name], site.env);
    try {
      await site.manager.waitFor(
        // A JSON log line: the quotes around the name are escaped.
        new RegExp(`two interceptors are connecting as \\\\"${name}\\\\"`),
        'the manager to name the clash',
        10_000,
      );
      await site.ics[0]!.waitFor(
        /replaced by a newer connection as interceptor/,
        'ic-1 to say why it is down',
      );
      const metrics = await (await fetch(`http://127.0.0.1:${site.managerPort}/metrics`)).text();
      const replaced = /switchyard_manager_links_replaced_total\{role="interceptor"\} (\d+)/.exec(metrics);
      assert.ok(replaced && Number(replaced[1]) >= 2, 'replacements counted');
    } finally {
      await twin.stop('SIGKILL');
    }
  });

  test('a change made while the manager was away does not undo a newer one when it arrives', async () => {
    // ctl enables web-a now; an interceptor cut off from the manager had disabled it 30 s
    // ago and only now gets through, with its change's age.
    const r = await ctl(0, 'enable', 'server', 'web-a');
    assert.equal(r.code, 0, r.stderr);
    const late = new LinkClient({
      url: `ws://127.0.0.1:${site.managerPort}/link`,
      role: 'interceptor',
      id: 'cut-off-ic',
      key: KEYS.interceptor,
      log: quiet,
      onWelcome: () => {
        const change = { target: 'server', name: 'web-a', enabled: false } as const;
        const made = Date.now() - 30_000;
        late.send({
          v: 1,
          type: 'override',
          ...change,
          age: 30_000,
          made,
          proof: operatorProof(TEST_TOKEN, change, made),
        });
      },
      onMessage: () => {},
    });
    late.start();
    try {
      const said = await eventually(
        () =>
          readStore(
            (db) =>
              db.prepare("SELECT text FROM events WHERE code = 'override.stale'").get() as
                | { text: string }
                | undefined,
          ),
        'the late change to be refused as stale',
        5000,
      );
      assert.match(
        said.text,
        /from interceptor cut-off-ic, made 30 s ago: server web-a: disabled; enabled left as it stands/,
      );
      const m = await ctl(0, '--json', 'manager');
      const view = JSON.parse(m.stdout) as {
        overrides: {
          servers: Record<string, { enabled?: boolean; origins?: Record<string, { by: string }> }>;
        };
      };
      assert.equal(view.overrides.servers['web-a']?.enabled, true, 'the newer enable stands');
      assert.match(view.overrides.servers['web-a']?.origins?.enabled?.by ?? '', /^ctl at /);
    } finally {
      await late.close();
    }
  });

  test("an interceptor's own key changes no override: only the operator's proof does, and never twice", async () => {
    // A compromised interceptor host holds the interceptor key but not the admin token.
    const rogue = new LinkClient({
      url: `ws://127.0.0.1:${site.managerPort}/link`,
      role: 'interceptor',
      id: 'rogue-ic',
      key: KEYS.interceptor,
      log: quiet,
      onWelcome: () => {
        const change = { target: 'server', name: 'web-b', enabled: false } as const;
        const made = Date.now();
        const real = { target: 'server', name: 'web-c', capacity: 2 } as const;
        const messages = [
          // No token: a proof made up with another key.
          { ...change, made, proof: operatorProof('not-the-admin-token', change, made) },
          // The proof of one change on another: the proof covers every field.
          {
            ...change,
            name: 'web-c',
            made,
            proof: operatorProof(TEST_TOKEN, { ...change, name: 'web-a' }, made),
          },
          // A real change replayed an hour after it was made, as if new.
          { ...change, made: made - 3_600_000, proof: operatorProof(TEST_TOKEN, change, made - 3_600_000) },
          // A real change (an operator's, captured), then the same again at once.
          { ...real, made, proof: operatorProof(TEST_TOKEN, real, made) },
          { ...real, made, proof: operatorProof(TEST_TOKEN, real, made) },
        ];
        for (const m of messages) rogue.send({ v: 1, type: 'override', age: 0, ...m });
      },
      onMessage: () => {},
    });
    rogue.start();
    try {
      const refused = await eventually(() => {
        const rows = readStore(
          (db) =>
            db.prepare("SELECT text FROM events WHERE code = 'override.refused' ORDER BY id").all() as Array<{
              text: string;
            }>,
        );
        return rows.length >= 4 && rows.map((r) => r.text);
      }, 'four refusals in the event log');
      assert.match(refused[0]!, /rogue-ic refused: it does not carry the operator's proof.*web-b: disabled/);
      assert.match(refused[1]!, /rogue-ic refused: it does not carry the operator's proof.*web-c: disabled/);
      assert.match(refused[2]!, /-3600 s off the manager's reckoning/);
      assert.match(refused[3]!, /taken once already.*web-c: capacity 2/);
      const m = await ctl(0, '--json', 'manager');
      const view = JSON.parse(m.stdout) as {
        overrides: { servers: Record<string, { enabled?: boolean; capacity?: number }> };
      };
      for (const name of ['web-a', 'web-b', 'web-c'])
        assert.notEqual(view.overrides.servers[name]?.enabled, false, `${name} left enabled`);
      assert.equal(view.overrides.servers['web-c']?.capacity, 2, 'the proven change is taken, once');
      const metrics = await (await fetch(`http://127.0.0.1:${site.managerPort}/metrics`)).text();
      assert.equal(metricValue(metrics, 'switchyard_manager_refused_total', { reason: 'proof' }), 4);
    } finally {
      await rogue.close();
    }
  });
});
