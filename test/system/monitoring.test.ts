import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { componentMac } from '../../src/protocol/handshake.js';
import { eventually, httpRequest, metricValue, openDatabase, TEST_TOKEN } from '../helpers.js';
import { KEYS, type RunningSite, serverStatus, share, startSite, status, untilServer } from './site.js';

/**
 * The monitoring plane end to end, with real processes on 127.0.0.1: manager, agent, three
 * demo servers behind the interface, interceptor (its own checks off). The phases run in
 * order on one site.
 */

describe('monitoring plane', { timeout: 120_000 }, () => {
  let site: RunningSite;
  before(async () => {
    site = await startSite({
      servers: [
        { name: 'web-a', slots: 2, serviceTime: 40 },
        { name: 'web-b', slots: 4, serviceTime: 5 },
        { name: 'web-c', slots: 4, serviceTime: 5 },
      ],
      // Waiting requests per slot: heavy at 1, maximum at 3.
      manager: '  thresholds: [{ metric: queueLength, heavy: 1, max: 3 }]',
    });
  });
  after(() => site?.stop());

  const direct = (server: string, path: string) =>
    httpRequest(`http://127.0.0.1:${site.ports.get(server)}${path}`, { method: 'GET' });

  test("each job has its own key: the mark key, another role's key or the admin token links nothing", async () => {
    // Answers the challenge as ROLE with KEY; resolves with the close code and reason.
    const tryLink = (role: string, key: string) =>
      new Promise<{ code: number; reason: string }>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${site.managerPort}/link`);
        ws.on('message', (data: Buffer) => {
          const m = JSON.parse(data.toString()) as { type: string; nonce?: string };
          if (m.type !== 'challenge') return;
          const nonce = 'c'.repeat(32);
          const mac = componentMac(key, m.nonce!, nonce, role as 'agent', 'intruder');
          ws.send(JSON.stringify({ v: 1, type: 'auth', role, id: 'intruder', nonce, mac }));
        });
        ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
        ws.on('error', reject);
      });
    const tries: Array<[string, string, RegExp]> = [
      ['agent', 'not-the-key', /wrong agent key/],
      // Every web server holds the mark key: it must open nothing.
      ['agent', KEYS.mark, /wrong agent key/],
      ['interceptor', KEYS.mark, /wrong interceptor key/],
      // A compromised host's agent cannot pass for an interceptor, nor the other way.
      ['interceptor', KEYS.agent, /wrong interceptor key/],
      ['agent', KEYS.interceptor, /wrong agent key/],
      ['ctl', TEST_TOKEN, /no ctl may link/],
    ];
    for (const [role, key, why] of tries) {
      const r = await tryLink(role, key);
      assert.equal(r.code, 4401, `${role} with ${key}`);
      await site.manager.waitFor(why, `the manager to say ${why}`);
    }
    const text = await (await fetch(`http://127.0.0.1:${site.managerPort}/metrics`)).text();
    assert.ok(metricValue(text, 'switchyard_manager_refused_total', { reason: 'auth' }) >= tries.length);
    for (const k of [...Object.values(KEYS), TEST_TOKEN])
      assert.doesNotMatch(site.manager.output(), new RegExp(k));
  });

  test('queue figures reach the interceptor within two report intervals', async () => {
    // Light traffic so figures flow; sample how old the interceptor's figures are.
    const ages: number[] = [];
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      await direct('web-b', '/lag');
      const s = serverStatus(await status(site.ic), 'web-b');
      if (s.manager) ages.push(s.manager.ageMs);
      await new Promise((r) => setTimeout(r, 30));
    }
    assert.ok(ages.length > 20, `too few samples: ${ages.length}`);
    ages.sort((a, b) => a - b);
    const p90 = ages[Math.floor(ages.length * 0.9)]!;
    // Default report interval 25 ms: the agent reports every 25 ms and the manager passes
    // figures on at once (and again on its 100 ms tick), so they are rarely older than
    // ~200 ms; the bound leaves room for a loaded machine.
    assert.ok(p90 <= 650, `90th percentile age ${p90} ms (all: ${ages.join(',')})`);
  });

  test('an agent with a fast server reports faster: every half its service time, at least every 5 ms', async () => {
    // web-b and web-c answer in about 5 ms: once their service times are known the agent
    // reports every 5 ms (the setting, 25 ms, would give 40 reports a second a server).
    for (let i = 0; i < 20; i++) await direct('web-b', '/fast');
    // The agent's choice, as its /metrics gives it, once it has learnt the service times (a
    // loaded machine may take longer: its figures come later). Its log says the same only
    // when the interval halves or doubles, so the log may lag the gauge by up to a factor 2.
    const metricsAt = /metrics at (http:\/\/[^\s]+)\/metrics/.exec(site.agent.output())?.[1];
    assert.ok(metricsAt, 'the agent says where its metrics are');
    const interval = async () =>
      metricValue(
        await (await fetch(`${metricsAt}/metrics`)).text(),
        'switchyard_agent_report_interval_seconds',
      );
    // Fast requests go on while we wait: service times measured while the machine was busy
    // (other test files start whole sites beside this one) must be outweighed by later ones.
    await eventually(
      async () => {
        for (let i = 0; i < 5; i++) await direct('web-b', '/fast');
        return (await interval()) <= 0.01;
      },
      'the agent to report every 10 ms or less',
      10_000,
    );
    const said = () =>
      [...site.agent.output().matchAll(/agent host-1 reports every (\d+) ms now/g)].map((m) => Number(m[1]));
    assert.ok((said().at(-1) ?? 25) <= 12, `the agent's log says ${said().join(', ')} ms`);
    const count = async () =>
      metricValue(
        await (await fetch(`http://127.0.0.1:${site.managerPort}/metrics`)).text(),
        'switchyard_manager_figures_total',
      );
    const [c0, t0] = [await count(), Date.now()];
    await eventually(() => Date.now() - t0 >= 1000, 'a second to pass', 2000);
    const [c1, t1] = [await count(), Date.now()];
    // Three servers a report; 40 a second each at 25 ms would be 120 a second. The rate
    // reached depends on what else the machine runs (about 540 a second alone here, 150 with
    // another test file beside it), but stays above what the setting alone gives.
    const perSecond = ((c1 - c0) * 1000) / (t1 - t0);
    assert.ok(
      perSecond > 120,
      `${perSecond.toFixed(0)} server figures a second; the agent said ${said().join(', ')} ms`,
    );
  });

  test("a queue at a server shows in the interceptor's /metrics, and so does its going", async () => {
    const gauge = (text: string, name: string) => metricValue(text, name, { server: 'web-a' });
    // 20 requests at once at web-a (2 slots, 40 ms each): 18 wait, and drain in about 400 ms.
    const burst = Array.from({ length: 20 }, () => direct('web-a', '/queue'));
    let peak = 0;
    await eventually(
      async () => {
        const text = await site.ic.metrics();
        peak = Math.max(peak, gauge(text, 'switchyard_interceptor_server_queue_length'));
        return peak >= 5 && gauge(text, 'switchyard_interceptor_server_busy_slots') >= 1;
      },
      'the queue at web-a to show in the interceptor',
      3000,
    );
    await Promise.all(burst);
    await eventually(
      async () => gauge(await site.ic.metrics(), 'switchyard_interceptor_server_queue_length') === 0,
      'the queue at web-a to show as gone',
      3000,
    );
    const text = await site.ic.metrics();
    assert.ok(gauge(text, 'switchyard_interceptor_server_load_value') >= 0);
    assert.ok(gauge(text, 'switchyard_interceptor_server_figures_age_seconds') < 2);
    assert.match(text, /switchyard_interceptor_server_load_value\{server="web-b"\}/);
    // The burst made web-a heavy for a moment; the next test begins from a calm site.
    await eventually(async () => share(await status(site.ic), 'web-a') > 0.2, 'web-a to be calm again', 5000);
  });

  test('an overloaded server gets clearly fewer users and redirects stateless pages itself', async () => {
    const before = await status(site.ic);
    assert.ok(share(before, 'web-a') > 0.2, `web-a share before: ${share(before, 'web-a')}`);

    // Overload web-a with stateful pages (never moved), bounded in count and time.
    let stop = false;
    const loaders = Array.from({ length: 14 }, async (_, i) => {
      for (let n = 0; n < 400 && !stop; n++) await direct('web-a', `/cart/${i}-${n}`).catch(() => {});
    });
    try {
      const during = await untilServer(
        site.ic,
        'web-a',
        (s) => s.manager?.level === 'max',
        'web-a at maximum load in the interceptor',
        10_000,
      );
      assert.equal(share(during, 'web-a'), 0, 'no new users for a heavily loaded server');
      // The interceptor's picks agree: none of 30 goes to web-a.
      for (let i = 0; i < 30; i++) {
        const r = await httpRequest(`${site.ic.url}/p${i}`, { method: 'GET' });
        assert.equal(r.status, 302);
        assert.doesNotMatch(r.headers.location as string, new RegExp(`:${site.ports.get('web-a')}/`));
      }
      // Its own interface now moves stateless pages to the interceptor, with a mark...
      const moved = await eventually(
        async () => {
          const r = await direct('web-a', '/page?x=1');
          return r.status === 302 ? r : undefined;
        },
        'web-a to redirect a stateless page',
        10_000,
      );
      const location = moved.headers.location as string;
      assert.ok(location.startsWith(`${site.ic.url}/page?x=1&sy_from=web-a~`), location);
      // ...and keeps serving stateful ones.
      const cart = await direct('web-a', '/cart/keep');
      assert.equal(cart.status, 200);
      // The interceptor leaves web-a out of the next pick and keeps the mark, so the next
      // server serves the request however busy it is: no request is bounced twice.
      const next = await httpRequest(location, { method: 'GET' });
      assert.equal(next.status, 302);
      const second = next.headers.location as string;
      assert.doesNotMatch(second, new RegExp(`:${site.ports.get('web-a')}/`));
      assert.match(second, /sy_from=web-a~/);
      const served = await httpRequest(second, { method: 'GET' });
      assert.equal(served.status, 200);
      assert.doesNotMatch(served.body, /sy_from/, 'the mark is stripped before the application');
      // A manager that stops answering (frozen here) renews nothing: web-a serves everyone
      // again once the redirect's lease (1 s) runs out, though it is still overloaded.
      site.manager.child.kill('SIGSTOP');
      const frozen = Date.now();
      try {
        await eventually(
          async () => (await direct('web-a', '/page')).status === 200,
          'web-a to stop redirecting without its manager',
          5000,
        );
        assert.ok(Date.now() - frozen < 2500, `redirected for ${Date.now() - frozen} ms without the manager`);
      } finally {
        site.manager.child.kill('SIGCONT');
      }
    } finally {
      stop = true;
      await Promise.all(loaders);
    }
    // Once the load is gone, web-a comes back into rotation and stops redirecting.
    await untilServer(
      site.ic,
      'web-a',
      (s, all) => s.manager?.level === 'normal' && share(all, 'web-a') > 0,
      'web-a back to normal',
      15_000,
    );
    await eventually(
      async () => (await direct('web-a', '/page')).status === 200,
      'web-a to serve again',
      5000,
    );
  });

  test('a server that dies is removed, and restored when it returns', async () => {
    await site.demos.get('web-c')!.stop('SIGKILL');
    const down = await untilServer(site.ic, 'web-c', (s) => s.manager?.failed === true, 'web-c failed');
    assert.equal(share(down, 'web-c'), 0);
    for (let i = 0; i < 20; i++) {
      const r = await httpRequest(`${site.ic.url}/d${i}`, { method: 'GET' });
      assert.doesNotMatch(r.headers.location as string, new RegExp(`:${site.ports.get('web-c')}/`));
    }
    site.demos.set('web-c', await site.startDemo('web-c'));
    await untilServer(
      site.ic,
      'web-c',
      (s, all) => s.manager?.failed === false && share(all, 'web-c') > 0,
      'web-c restored',
    );
  });

  test('a killed manager: interceptors go on, agents replay once it is back, nothing lost or doubled', async () => {
    await site.manager.stop('SIGKILL');
    const N = 40;
    for (let i = 0; i < N; i++) {
      const r = await direct('web-b', `/replay/${i}`);
      assert.equal(r.status, 200);
      // The interceptor keeps answering on what it last knew.
      const ic = await httpRequest(`${site.ic.url}/alone${i}`, { method: 'GET' });
      assert.equal(ic.status, 302);
    }
    site.manager = await site.startManager();
    const db = openDatabase(join(site.dataDir, 'switchyard.db'), { readonly: true });
    try {
      const counts = await eventually(
        () => {
          const row = db
            .prepare(
              "SELECT count(*) AS n, count(DISTINCT path) AS d FROM records WHERE path LIKE '/replay/%'",
            )
            .get() as { n: number; d: number };
          return row.n >= N ? row : undefined;
        },
        'the replayed records in the store',
        15_000,
      );
      assert.deepEqual(counts, { n: N, d: N });
    } finally {
      db.close();
    }
    await site.ic.waitFor(
      /connected to the manager[\s\S]*connected to the manager/,
      'the interceptor to reconnect',
    );
  });

  /** Counts of the records whose path starts with `prefix`: all, and distinct paths. */
  const stored = (prefix: string) => {
    const db = openDatabase(join(site.dataDir, 'switchyard.db'), { readonly: true });
    try {
      return db
        .prepare('SELECT count(*) AS n, count(DISTINCT path) AS d FROM records WHERE path LIKE ?')
        .get(`${prefix}%`) as { n: number; d: number };
    } finally {
      db.close();
    }
  };

  test('an agent killed with kill -9 loses nothing its interfaces handed over, and stores nothing twice', async () => {
    const N = 40;
    for (let i = 0; i < N; i++) {
      // Half before the kill (in the agent's batch, its outbox or the socket), half while it is away.
      if (i === N / 2) await site.agent.stop('SIGKILL');
      assert.equal((await direct('web-b', `/crash/${i}`)).status, 200);
    }
    site.agent = await site.startAgent();
    const counts = await eventually(
      () => {
        const c = stored('/crash/');
        return c.n >= N ? c : undefined;
      },
      'every record in the store',
      15_000,
    ).catch((e) => {
      console.log(
        'STORED',
        stored('/crash/'),
        '\nAGENT',
        site.agent.output(),
        '\nMANAGER',
        site.manager.output().slice(-3000),
      );
      throw e;
    });
    assert.deepEqual(counts, { n: N, d: N });
    assert.doesNotMatch(site.agent.output(), /records\.overflow|dropped/);
  });

  test('a store locked by another process past the busy time-out: batches wait, /healthz says so, then all are stored once', async () => {
    const db = openDatabase(join(site.dataDir, 'switchyard.db'));
    db.pragma('busy_timeout = 5000');
    db.exec('BEGIN EXCLUSIVE');
    const N = 20;
    try {
      for (let i = 0; i < N; i++) assert.equal((await direct('web-b', `/locked/${i}`)).status, 200);
      // First a write that waits (stuck), then, past the busy time-out, one that failed.
      const said: string[] = [];
      await eventually(
        async () => {
          const r = await httpRequest(`http://127.0.0.1:${site.managerPort}/healthz`, { method: 'GET' });
          if (r.status === 503) said.push(r.body);
          return /store failing: database is locked/.test(r.body);
        },
        'the manager to say its store is failing',
        15_000,
      );
      assert.match(said[0]!, /^store stuck: a write has waited \d+ ms/);
    } finally {
      db.exec('COMMIT');
      db.close();
    }
    const counts = await eventually(
      () => {
        const c = stored('/locked/');
        return c.n >= N ? c : undefined;
      },
      'every record in the store once the lock is gone',
      20_000,
    );
    assert.deepEqual(counts, { n: N, d: N });
    const r = await httpRequest(`http://127.0.0.1:${site.managerPort}/healthz`, { method: 'GET' });
    assert.equal(r.status, 200);
  });
});
