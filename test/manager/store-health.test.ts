import assert from 'node:assert/strict';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { SqliteStore } from '../../src/manager/store/sqlite-store.js';
import {
  eventually,
  httpRequest,
  keepAlive,
  metricValue,
  openDatabase,
  type RunningProcess,
  startCli,
  tempDir,
} from '../helpers.js';

/**
 * A broken store is visible (issue 28, D43): a real manager process on a real SQLite file,
 * its store made to refuse writes (another connection holds the write lock) or its store
 * thread ended (and kept from starting again), and what /healthz, /metrics and the log say.
 */

const T = { timeout: 60_000 };

/** A site with a manager only; the store in DIR/data/switchyard.db. */
function site() {
  const dir = tempDir({
    secret: 'store-health-test-secret-0123456789abcdef',
    'site.yaml': [
      'interceptor:',
      '  listen: 127.0.0.1:0',
      'manager:',
      '  listen: 127.0.0.1:0',
      '  dataDir: ./data',
      '  keys: { agent: ./secret, interceptor: ./secret, mark: ./secret }',
      'servers:',
      '  - { name: web-a, url: http://127.0.0.1:1 }',
      'applications:',
      '  - { name: shop, match: { pathPrefix: / }, servers: [web-a] }',
      '',
    ].join('\n'),
  });
  return {
    dir,
    config: join(dir, 'site.yaml'),
    data: join(dir, 'data'),
    db: join(dir, 'data', 'switchyard.db'),
  };
}

/**
 * Loaded into the manager process with --import (test only): on SIGUSR2 it ends the store's
 * worker thread at once, as a native crash or an out-of-memory would. The manager's code is
 * the built one, unchanged; this only keeps a handle on the threads it starts.
 */
const CRASH_HOOK = `
import wt from 'node:worker_threads';
import { syncBuiltinESMExports } from 'node:module';
if (wt.isMainThread) {
  const stores = new Set();
  const Base = wt.Worker;
  wt.Worker = class extends Base {
    constructor(file, options) {
      super(file, options);
      if (String(options?.workerData?.file ?? '').endsWith('.db')) {
        stores.add(this);
        this.once('exit', () => stores.delete(this));
      }
    }
  };
  syncBuiltinESMExports();
  process.on('SIGUSR2', () => {
    process.stderr.write('test hook: ending ' + stores.size + ' store thread(s)\\n');
    for (const w of stores) void w.terminate();
  });
}
`;

interface LogLine {
  level: number;
  msg: string;
}
const logLines = (p: RunningProcess): LogLine[] =>
  p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

/** The manager's http://host:port, from its listening line. */
async function listening(p: RunningProcess, deadlineMs = 10_000): Promise<string> {
  return (
    await p.waitFor(/manager listening on (http:\/\/127\.0\.0\.1:\d+)/, 'the manager to listen', deadlineMs)
  )[1]!;
}

async function storeMetrics(url: string) {
  const text = (await httpRequest(`${url}/metrics`, { method: 'GET' })).body;
  for (const name of ['switchyard_manager_store_up', 'switchyard_manager_store_queued'])
    assert.match(text, new RegExp(`^${name} `, 'm'), `${name} is on /metrics`);
  return {
    up: metricValue(text, 'switchyard_manager_store_up'),
    queued: metricValue(text, 'switchyard_manager_store_queued'),
    restarts: metricValue(text, 'switchyard_manager_store_restarts_total'),
  };
}

const healthz = (url: string) => httpRequest(`${url}/healthz`, { method: 'GET' });

test(
  'a store that opens but takes no write is said in one line at start; /healthz and /metrics say so until it takes writes again',
  T,
  async (t) => {
    const { config, db } = site();
    keepAlive(new SqliteStore(db)).close(); // the store as a previous run left it
    // Another program holds the write lock (a backup, an operator's sqlite3 shell): the manager
    // can open and read the store, but its first write waits out the busy time-out and fails.
    const lock = openDatabase(db);
    lock.exec('BEGIN EXCLUSIVE');
    let locked = true;
    const release = () => {
      if (locked) lock.exec('COMMIT');
      locked = false;
    };
    t.after(release);
    const m = startCli(['manager', '--config', config]);
    t.after(() => m.stop());

    const url = await listening(m, 20_000); // after the start's write has waited 5 s for the lock
    const failing = () => logLines(m).filter((l) => /the store at .* is failing/.test(l.msg));
    assert.equal(failing().length, 1, m.output());
    const said = failing()[0]!;
    assert.equal(said.level, 50, 'an error');
    assert.match(said.msg, /switchyard\.db is failing: database is locked/);
    const order = logLines(m).map((l) => l.msg);
    assert.ok(
      order.indexOf(said.msg) < order.findIndex((x) => x.startsWith('manager listening')),
      'said before the manager listens',
    );
    assert.equal(m.child.exitCode, null, 'the manager runs on: balancing needs no store');

    const h = await healthz(url);
    assert.equal(h.status, 503);
    assert.match(h.body, /^store failing: database is locked/);
    assert.equal((await storeMetrics(url)).up, 0);
    // The manager tries a write again every second; each waits for the lock, and shows queued.
    await eventually(async () => (await storeMetrics(url)).queued >= 1, 'a store write to be queued');

    release();
    await eventually(async () => (await healthz(url)).status === 200, '/healthz to be ok again', 15_000);
    assert.equal((await healthz(url)).body, 'ok\n');
    const after = await storeMetrics(url);
    assert.deepEqual(after, { up: 1, queued: 0, restarts: 0 });
    await m.waitFor(/takes writes again/, 'the manager to say the store takes writes again');
    assert.equal(failing().length, 1, 'said once, not at every failed try');
  },
);

/** A manager whose store thread the test can end with SIGUSR2 (CRASH_HOOK), and its URL once it listens. */
async function managerWithCrashHook(t: TestContext, dir: string, config: string) {
  const hook = join(dir, 'crash-hook.mjs');
  writeFileSync(hook, CRASH_HOOK);
  const m = startCli(['manager', '--config', config], {
    NODE_OPTIONS: `--import=${pathToFileURL(hook).href}`,
  });
  t.after(() => m.stop());
  return { m, url: await listening(m) };
}

test(
  'a store thread that dies is started again and counted; while it cannot be, /healthz answers 503 and store_up is -1',
  T,
  async (t) => {
    const { dir, config, data } = site();
    const { m, url } = await managerWithCrashHook(t, dir, config);
    assert.deepEqual(await storeMetrics(url), { up: 1, queued: 0, restarts: 0 });
    assert.equal((await healthz(url)).status, 200);

    // The thread ends while its database cannot be opened (its directory is a file now): it is
    // tried again and again, and meanwhile the manager says it is down.
    renameSync(data, `${data}.away`);
    writeFileSync(data, 'not a directory');
    process.kill(m.child.pid!, 'SIGUSR2');
    await m.waitFor(/ending 1 store thread/, 'the hook to end the store thread');
    await eventually(async () => (await healthz(url)).status === 503, '/healthz to answer 503');
    assert.match((await healthz(url)).body, /^store down: the store thread stopped/);
    assert.deepEqual(await storeMetrics(url), { up: -1, queued: 0, restarts: 0 });
    const down = logLines(m).filter((l) => /is down \(its thread stopped; starting it again\)/.test(l.msg));
    assert.equal(down.length, 1, m.output());
    assert.equal(down[0]!.level, 50);
    // Tried again with a growing pause (100 ms doubling): still down a while later.
    await eventually(
      async () => /cannot open the store/.test((await healthz(url)).body),
      'a failed restart',
      5000,
    );
    assert.equal((await healthz(url)).status, 503);

    // The directory is back: the next try starts the thread, counted once.
    rmSync(data);
    renameSync(`${data}.away`, data);
    await eventually(
      async () => (await storeMetrics(url)).up === 1,
      'the store thread to start again',
      15_000,
    );
    assert.deepEqual(await storeMetrics(url), { up: 1, queued: 0, restarts: 1 });
    assert.equal((await healthz(url)).body, 'ok\n');

    // A second death with everything in place: started again at once (100 ms), counted again.
    process.kill(m.child.pid!, 'SIGUSR2');
    // Counted when the thread starts; up once its first write has answered.
    await eventually(
      async () => {
        const x = await storeMetrics(url);
        return x.restarts === 2 && x.up === 1;
      },
      'a second restart, taking writes',
      10_000,
    );
    assert.equal((await healthz(url)).status, 200);
  },
);

test(
  'a store thread started again on a database that still takes no write is failing, not ok',
  T,
  async (t) => {
    const { dir, config, db } = site();
    const { m, url } = await managerWithCrashHook(t, dir, config);
    const lock = openDatabase(db);
    lock.exec('BEGIN EXCLUSIVE');
    let locked = true;
    const release = () => {
      if (locked) lock.exec('COMMIT');
      locked = false;
    };
    t.after(release);

    // The thread dies and starts again at once, but the database is still locked: the new
    // thread's first write waits for the lock and fails, so the store is never called ok.
    process.kill(m.child.pid!, 'SIGUSR2');
    await m.waitFor(/ending 1 store thread/, 'the hook to end the store thread');
    await eventually(async () => (await storeMetrics(url)).restarts === 1, 'the restart to be counted');
    const answers: string[] = [];
    await eventually(
      async () => {
        const h = await healthz(url);
        answers.push(`${h.status} ${h.body.trim()}`);
        return h.status === 503 && h.body.startsWith('store failing: database is locked');
      },
      'the store to be failing',
      15_000,
    );
    assert.ok(
      answers.every((a) => a.startsWith('503 ')),
      `never ok while the database takes no write: ${answers.join(' | ')}`,
    );
    assert.deepEqual(
      { ...(await storeMetrics(url)), queued: 0 },
      { up: 0, queued: 0, restarts: 1 },
      'failing; the restart counted',
    );

    release();
    await eventually(async () => (await healthz(url)).status === 200, '/healthz to be ok again', 15_000);
    assert.equal((await storeMetrics(url)).up, 1);
    await m.waitFor(/takes writes again/, 'the manager to say the store takes writes again');
  },
);
