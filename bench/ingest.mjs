// Store ingest: request records per second the manager's store keeps (batched, SQLite file on
// disk), against raw batched better-sqlite3 inserts of the same rows, in the same run, on the
// same schema and indexes.
//
// Rows: realistic request records with every field filled, from a seeded generator. A pool of
// 500 batches of 100 records (the agent's default batch) is built once; batch i is pool batch
// i mod 500 with its start times moved on by one pool span per lap, so every row is new, start
// times keep rising, and generating rows costs nothing during the runs.
// Load: 10 simulated agents, each sending its next batch (with its own rising sequence number)
// once the last one is acknowledged, so up to 10 batches are in flight. Each batch is handed
// over in its own event-loop turn (setImmediate), as batches arriving on the links would be,
// so timers can run between batches.
// Variants, each writing a fresh file in a temporary directory:
//   raw     the schema made by opening a SqliteStore on the file (so tables and indexes are
//           the store's own), then one prepared INSERT per row inside db.transaction per batch,
//           with the store's pragmas; no sequence bookkeeping.
//   store   SqliteStore.ingest(role, id, seq, batch, now) on the main thread: one transaction
//           per batch, with the sequence-number check and update.
//   worker  StoreClient.ingest(...), the store on its worker thread as the manager runs it
//           (only when dist/manager/store/store-client.js is built).
// After one discarded warm-up run of each, measured runs alternate raw, store, worker, raw, ...
// so drift on the machine hits all alike; the goals compare medians. records/s is records over
// the wall time of the run. CPU µs/record is the process's CPU time (every thread) over the
// records. "Call" times run from handing a batch over to its result: for raw and store, the
// time the event loop is held; for the worker, the round trip.
// Throughout each run a 100 ms interval in the same process samples memory (rss, heapUsed) and
// how late its own tick came: the figures a manager sends on a timer are late by that much.
// Other load is the CPU time other processes took during a run, as a share of all cores (from
// /proc/stat); a run above 5 % is repeated (up to BENCH_RETRIES times) and the least disturbed
// attempt kept.
//
// Goals (the issue): at least 100,000 records/s and at least 0.5 of the raw inserts' rate,
// flat memory (one run leaves at most 2 MB on the main heap, measured after a full GC with the
// store still open, and rss climbs at most 16 MB from the run's first half to its second), and
// the 100 ms ticks on time during ingest (here: never more than 25 ms late, a tenth of the
// default 250 ms report interval). Each variant but raw is judged on its own.
//
// Usage: npm run bench:ingest                 (builds first)
//        node bench/ingest.mjs [--json]       (uses dist/ as it is)
//   BENCH_RECORDS=N  records per measured run (default 500,000; e.g. 20000 for a smoke run)
//   BENCH_ROUNDS=N   measured runs of each variant (default 3)
//   BENCH_RETRIES=N  times a disturbed run is repeated (default 2)
//   BENCH_DIR=PATH   where the temporary directory goes (default the OS temp directory; put it
//                    on a real disk, not tmpfs)
// Exit status: 0 when the benchmark ran (whether or not the goals are met), 1 when it could not.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Database from 'better-sqlite3';
import { seededRandom } from '../dist/core/index.js';
import { SqliteStore } from '../dist/manager/store/sqlite-store.js';
import { parseMessage } from '../dist/protocol/messages.js';
import { PROTOCOL_VERSION } from '../dist/protocol/version.js';
import { BenchError, clockTicks } from './common.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const GOAL_RATE = 100_000;
const GOAL_RATIO = 0.5;
/** The sampling and lateness interval, ms. */
const TICK_MS = 100;
/** A tick later than this fails "on time": a tenth of the default report interval (250 ms). */
const GOAL_LATE_MS = 25;
/** Flat memory: what one run leaves on the heap (after a full GC, store still open)… */
const FLAT_HEAP_BYTES = 2 * 1024 * 1024;
/** … and how much higher rss climbs in the second half of a run than in the first. */
const FLAT_RSS_BYTES = 16 * 1024 * 1024;
/** Fewer ticks than this in a run (it took under a second) and memory and lateness go unjudged. */
const MIN_TICKS = 10;
const BATCH_RECORDS = 100;
const AGENTS = 10;
const SERVERS = 10;
const POOL_BATCHES = 500;
/** Simulated arrival spacing of requests, ms: the site serves 100,000 requests a second. */
const START_STEP_MS = 0.01;
const WARMUP_RECORDS = 50_000;
/** A run stops (and is reported incomplete) after this long, so the script always ends. */
const RUN_LIMIT_MS = 300_000;
/** Batches decoded and validated for the context figure. */
const PARSE_BATCHES = 200;
const MB = 1024 * 1024;
/** Share of all cores other processes may take during a run before it is run again. */
const OTHER_LOAD_WARN = 0.05;

function envInt(name, def, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min || n > max)
    throw new BenchError(`${name}: expected a whole number from ${min} to ${max}, got ${raw}`);
  return n;
}

// A full GC between phases, so heap figures compare like with like.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

// ---------------------------------------------------------------------------------------------
// Rows

const METHODS = [
  ['GET', 0.86],
  ['POST', 0.09],
  ['HEAD', 0.03],
  ['PUT', 0.01],
  ['DELETE', 0.01],
];
const STATUSES = [
  [200, 0.78],
  [304, 0.08],
  [302, 0.05],
  [404, 0.05],
  [301, 0.02],
  [500, 0.01],
  [503, 0.01],
];
const SECTIONS = ['shop', 'news', 'api/v2', 'static', 'account', 'search', 'media', 'help'];
const LEAVES = ['products', 'items', 'articles', 'orders', 'img', 'css', 'js', 'profile', 'cart'];
const EXTENSIONS = ['', '', '', '.html', '.json', '.png', '.css', '.js'];
const CONTENT_TYPES = [
  'text/html; charset=utf-8',
  'application/json',
  'image/png',
  'text/css',
  'application/javascript',
  'image/webp',
];
const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  'curl/8.11.0',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
];
const REFERRERS = ['https://www.example.com/', 'https://www.google.com/', 'https://news.example.org/today'];

function weighted(random, table) {
  let x = random();
  for (const [v, w] of table) {
    x -= w;
    if (x < 0) return v;
  }
  return table[table.length - 1][0];
}

const pick = (random, list) => list[Math.floor(random() * list.length)];

/** One request record with every field of requestRecordSchema filled. */
function makeRecord(random, start) {
  const server = `web-${String(1 + Math.floor(random() * SERVERS)).padStart(2, '0')}`;
  const path = `/${pick(random, SECTIONS)}/${pick(random, LEAVES)}/${Math.floor(random() * 100_000)}${pick(random, EXTENSIONS)}`;
  const status = weighted(random, STATUSES);
  return {
    server,
    start,
    method: weighted(random, METHODS),
    path,
    status,
    queueWait: Math.round(-Math.log(1 - random()) * 2 * 1000) / 1000,
    serviceTime: Math.round(Math.exp(1 + random() * 4) * 1000) / 1000,
    client: `10.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}:${1024 + Math.floor(random() * 64_000)}`,
    query: `page=${1 + Math.floor(random() * 20)}&sort=${pick(random, ['price', 'date', 'name'])}`,
    protocol: random() < 0.7 ? 'HTTPS/1.1' : 'HTTP/1.1',
    bytes: Math.floor(200 + random() * 60_000),
    contentType: pick(random, CONTENT_TYPES),
    userAgent: pick(random, USER_AGENTS),
    referrer: pick(random, REFERRERS),
    cookies: random() < 0.6,
    redirectedTo: `https://${server}.example.net${path}`,
    aborted: random() < 0.01,
  };
}

/**
 * The rows of every run: POOL_BATCHES batches built once, reused lap after lap with their start
 * times moved on by one pool span, so the rows of batch i are the same in every run.
 */
function makeSource() {
  const random = seededRandom(20261123);
  const base = 1_795_000_000_000;
  const pool = [];
  const starts = [];
  let t = 0;
  for (let b = 0; b < POOL_BATCHES; b++) {
    const records = [];
    const s = new Float64Array(BATCH_RECORDS);
    for (let k = 0; k < BATCH_RECORDS; k++) {
      t += START_STEP_MS * (0.5 + random());
      s[k] = base + t;
      records.push(makeRecord(random, s[k]));
    }
    pool.push({ records, events: [], samples: [] });
    starts.push(s);
  }
  const span = t + START_STEP_MS;
  return {
    pool,
    /** Batch i of a run, ready to hand over (valid until POOL_BATCHES later batches are taken). */
    batch(i) {
      const j = i % POOL_BATCHES;
      const lap = Math.floor(i / POOL_BATCHES) * span;
      const b = pool[j];
      const s = starts[j];
      for (let k = 0; k < BATCH_RECORDS; k++) b.records[k].start = s[k] + lap;
      return b;
    },
  };
}

/** Mean sizes of a record: as JSON on the wire, and its values alone (about what a row holds). */
function recordSizes(pool) {
  let json = 0;
  let values = 0;
  let n = 0;
  for (const b of pool) {
    for (const r of b.records) {
      json += JSON.stringify(r).length;
      for (const v of Object.values(r)) values += typeof v === 'string' ? v.length : 8;
      n++;
    }
  }
  return { json: json / n, values: values / n };
}

/**
 * For context, not a goal: what decoding and validating the same batches as link messages
 * (parseMessage: JSON.parse and the zod schema) costs per record. It also checks that the
 * generated records are valid protocol records.
 */
function parseCost(pool) {
  const texts = pool
    .slice(0, PARSE_BATCHES)
    .map((b, i) => JSON.stringify({ v: PROTOCOL_VERSION, type: 'batch', seq: i + 1, ...b }));
  let records = 0;
  let ms = 0;
  for (let pass = 0; pass < 3; pass++) {
    const t0 = performance.now();
    for (const text of texts) {
      const p = parseMessage(text);
      if (!p.ok) throw new BenchError(`a generated batch is not a valid message: ${p.error}`);
      records += p.message.records.length;
    }
    // The first pass warms up and is not counted.
    if (pass === 0) records = 0;
    else ms += performance.now() - t0;
  }
  return { usPerRecord: (ms * 1000) / records };
}

// ---------------------------------------------------------------------------------------------
// Variants. Each opens a fresh file and returns { ingest(role, id, seq, batch, now), close() };
// ingest may return a promise, so a store behind a worker thread fits the same driver.

const INSERT = `INSERT INTO records (component, server, start, method, path, status, queue_wait, service_time,
  client, query, protocol, bytes, content_type, user_agent, referrer, cookies, redirected_to, aborted, logged_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

const VARIANTS = [
  {
    name: 'raw',
    label: 'raw better-sqlite3',
    open(file) {
      // The store makes the schema, so tables and indexes are exactly its own.
      new SqliteStore(file).close();
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      const insert = db.prepare(INSERT);
      const tx = db.transaction((component, records, now) => {
        for (const r of records) {
          insert.run(
            component,
            r.server,
            Math.round(r.start),
            r.method,
            r.path,
            r.status,
            r.queueWait,
            r.serviceTime,
            r.client,
            r.query,
            r.protocol,
            r.bytes,
            r.contentType,
            r.userAgent,
            r.referrer,
            r.cookies ? 1 : 0,
            r.redirectedTo,
            r.aborted ? 1 : 0,
            now,
          );
        }
      });
      return {
        ingest(role, id, seq, b, now) {
          tx(`${role}:${id}`, b.records, now);
          return { stored: seq, duplicate: false };
        },
        close: () => db.close(),
      };
    },
  },
  {
    name: 'store',
    label: 'SqliteStore',
    open(file) {
      const store = new SqliteStore(file);
      return {
        ingest: (role, id, seq, b, now) => store.ingest(role, id, seq, b, now),
        close: () => store.close(),
      };
    },
  },
];

/**
 * The store behind its worker thread, as the manager uses it (StoreClient): every ingest is a
 * promise, the batch is copied to the thread, and the main thread only waits. Added when
 * dist/manager/store/store-client.js is built.
 */
async function workerVariant() {
  const file = join(ROOT, 'dist/manager/store/store-client.js');
  if (!existsSync(file)) return undefined;
  const { StoreClient } = await import(pathToFileURL(file).href);
  return {
    name: 'worker',
    label: 'StoreClient (worker)',
    // Calls overlap (one per agent in flight), so their summed time says nothing.
    overlapping: true,
    async open(db) {
      const client = await StoreClient.open(db);
      return {
        ingest: (role, id, seq, b, now) => client.ingest(role, id, seq, b, now),
        close: () => client.close(),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// One run

const TICKS_PER_SECOND = clockTicks();

/**
 * Busy time of every core since boot, in seconds, from /proc/stat (user, nice, system, irq,
 * softirq); undefined where there is no /proc.
 */
function busySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].split(/\s+/);
    return (Number(f[1]) + Number(f[2]) + Number(f[3]) + Number(f[6]) + Number(f[7])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** This process's CPU time (all threads), seconds. */
function ownSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** The 100 ms interval: memory samples and how late each tick came. */
function startMonitor(progress) {
  const m = { ticks: 0, lateMax: 0, late: [], rssPeak: 0, heapPeak: 0, samples: [] };
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const late = Math.max(0, now - last - TICK_MS);
    last = now;
    const mu = process.memoryUsage();
    m.ticks++;
    m.late.push(late);
    if (late > m.lateMax) m.lateMax = late;
    if (mu.rss > m.rssPeak) m.rssPeak = mu.rss;
    if (mu.heapUsed > m.heapPeak) m.heapPeak = mu.heapUsed;
    m.samples.push({ done: progress(), rss: mu.rss, heap: mu.heapUsed });
  }, TICK_MS);
  return () => {
    clearInterval(timer);
    return m;
  };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Hands `batches` batches to `ingest` from AGENTS simulated agents, each batch in its own
 * event-loop turn. Returns per-batch call times (ms) and whether the run finished in time.
 */
async function drive(ingest, source, batches, counter) {
  const seqs = new Array(AGENTS).fill(0);
  const callMs = new Float64Array(batches);
  const deadline = performance.now() + RUN_LIMIT_MS;
  let next = 0;
  let timedOut = false;
  const agent = async (a) => {
    const id = `host-${String(a + 1).padStart(2, '0')}`;
    while (next < batches) {
      if (performance.now() > deadline) {
        timedOut = true;
        return;
      }
      const i = next++;
      await nextTurn();
      const b = source.batch(i);
      const seq = ++seqs[a];
      const t0 = performance.now();
      const r = await ingest('agent', id, seq, b, Date.now());
      callMs[i] = performance.now() - t0;
      if (r.duplicate || r.stored !== seq) throw new BenchError(`batch ${seq} of ${id} was not stored`);
      counter.records += b.records.length;
    }
  };
  await Promise.all(Array.from({ length: AGENTS }, (_, a) => agent(a)));
  return { callMs, timedOut };
}

/** What the file holds, without logged_at and ids: equal across variants when they stored the same rows. */
function digest(file) {
  const db = new Database(file, { readonly: true });
  try {
    const row = db
      .prepare(
        `SELECT count(*) AS n, total(start) AS start, total(queue_wait + service_time) AS times,
           total(status + bytes + cookies * 3 + aborted * 7) AS ints,
           total(length(component) + length(server) + length(method) + length(path) + length(client)
             + length(query) + length(protocol) + length(content_type) + length(user_agent)
             + length(referrer) + length(redirected_to)) AS chars
         FROM records`,
      )
      .get();
    return row;
  } finally {
    db.close();
  }
}

function fileBytes(dir, base) {
  let n = 0;
  for (const f of readdirSync(dir)) if (f.startsWith(base)) n += statSync(join(dir, f)).size;
  return n;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function run(variant, source, records, dir, tag) {
  const base = `${variant.name}-${tag}.db`;
  const file = join(dir, base);
  const conn = await variant.open(file);
  const batches = Math.ceil(records / BATCH_RECORDS);
  const counter = { records: 0 };
  gc();
  const before = process.memoryUsage();
  const stop = startMonitor(() => counter.records);
  const busy0 = busySeconds();
  const own0 = ownSeconds();
  const t0 = performance.now();
  let driven;
  try {
    driven = await drive(conn.ingest, source, batches, counter);
  } catch (err) {
    // Leave nothing running (the interval, a store thread) so the error can end the process.
    stop();
    await Promise.resolve(conn.close()).catch(() => {});
    throw err;
  }
  const { callMs, timedOut } = driven;
  const ms = performance.now() - t0;
  const own = ownSeconds() - own0;
  const busy1 = busySeconds();
  const mon = stop();
  const dbBytesOpen = fileBytes(dir, base);
  // Still open: whatever the store kept for the rows it took is on the heap now.
  gc();
  const after = process.memoryUsage();
  await conn.close();
  const dbBytes = fileBytes(dir, base);
  const d = digest(file);
  for (const f of readdirSync(dir)) if (f.startsWith(base)) rmSync(join(dir, f), { force: true });

  const calls = Array.from(callMs.subarray(0, Math.ceil(counter.records / BATCH_RECORDS))).sort(
    (a, b) => a - b,
  );
  const busyMs = calls.reduce((s, x) => s + x, 0);
  const half = mon.samples.filter((s) => s.done <= counter.records / 2);
  const rest = mon.samples.filter((s) => s.done > counter.records / 2);
  const maxRss = (list) => list.reduce((m, s) => Math.max(m, s.rss), 0);
  const late = mon.late.sort((a, b) => a - b);
  if (d.n !== counter.records)
    throw new BenchError(`${variant.name}: the file holds ${d.n} records, ${counter.records} were sent`);
  return {
    variant: variant.name,
    tag,
    records: counter.records,
    complete: !timedOut,
    ms,
    rate: (counter.records / ms) * 1000,
    busyMs,
    busyRate: (counter.records / busyMs) * 1000,
    cpuUsPerRecord: (own * 1e6) / counter.records,
    // CPU time other processes took meanwhile, as a share of all cores over the run.
    otherLoad:
      busy0 === undefined || busy1 === undefined
        ? 0
        : Math.max(0, (busy1 - busy0 - own) / ((ms / 1000) * availableParallelism())),
    batchMs: { p50: quantile(calls, 0.5), p99: quantile(calls, 0.99), max: calls[calls.length - 1] ?? 0 },
    ticks: mon.ticks,
    lateMs: { p50: quantile(late, 0.5), p99: quantile(late, 0.99), max: mon.lateMax },
    heap: { start: before.heapUsed, peak: Math.max(mon.heapPeak, before.heapUsed), end: after.heapUsed },
    rss: { start: before.rss, peak: Math.max(mon.rssPeak, before.rss), end: after.rss },
    // rss climb in the second half of the run over the first; 0 when the run was too short to tell.
    rssClimb: half.length > 0 && rest.length > 0 ? Math.max(0, maxRss(rest) - maxRss(half)) : 0,
    dbBytesOpen,
    dbBytes,
    digest: d,
  };
}

// ---------------------------------------------------------------------------------------------
// Main

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmtInt = (n) => Math.round(n).toLocaleString('en');
const fmtMB = (n) => (n / MB).toFixed(1);

async function main() {
  const json = process.argv.includes('--json');
  const log = json ? (m) => console.error(m) : (m) => console.log(m);
  const records = Math.ceil(envInt('BENCH_RECORDS', 500_000, 1, 100_000_000) / BATCH_RECORDS) * BATCH_RECORDS;
  const rounds = envInt('BENCH_ROUNDS', 3, 1, 20);
  const retries = envInt('BENCH_RETRIES', 2, 0, 10);
  const parent = process.env.BENCH_DIR || tmpdir();
  const dir = mkdtempSync(join(parent, 'switchyard-ingest-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const source = makeSource();
    const sizes = recordSizes(source.pool);
    const parse = parseCost(source.pool);
    const variants = [...VARIANTS];
    const worker = await workerVariant();
    if (worker) variants.push(worker);
    else log('note: dist/manager/store/store-client.js is not built: no worker variant');
    log(
      `${fmtInt(records)} records per run in batches of ${BATCH_RECORDS} from ${AGENTS} agents; ` +
        `${rounds} round(s); files in ${dir}`,
    );

    for (const v of variants) {
      log(`warm-up: ${v.name}`);
      await run(v, source, Math.min(WARMUP_RECORDS, records), dir, 'warmup');
    }
    const runs = [];
    for (let round = 1; round <= rounds; round++) {
      for (const v of variants) {
        // A run other processes competed with is run again (a bounded number of times); the
        // least disturbed attempt is kept.
        let kept;
        for (let attempt = 0; attempt <= retries; attempt++) {
          const r = await run(v, source, records, dir, `${round}-${attempt}`);
          if (!kept || r.otherLoad < kept.otherLoad) kept = r;
          const noisy = r.otherLoad > OTHER_LOAD_WARN;
          log(
            `round ${round} ${v.name.padEnd(7)} ${fmtInt(r.rate).padStart(9)} records/s` +
              `  ${r.cpuUsPerRecord.toFixed(2)} µs CPU/rec` +
              `  call p50 ${r.batchMs.p50.toFixed(2)} ms, max ${r.batchMs.max.toFixed(1)} ms` +
              `  tick late max ${r.lateMs.max.toFixed(1)} ms` +
              `  heap ${fmtMB(r.heap.start)}→${fmtMB(r.heap.end)} MB  rss ${fmtMB(r.rss.start)}/${fmtMB(r.rss.peak)} MB` +
              `  other load ${(r.otherLoad * 100).toFixed(0)}%` +
              (noisy ? (attempt < retries ? ' (busy machine: again)' : ' (busy machine)') : '') +
              (r.complete ? '' : '  INCOMPLETE (time limit)'),
          );
          if (!noisy) break;
        }
        runs.push(kept);
      }
    }

    const by = (name) => runs.filter((r) => r.variant === name);
    const summaryOf = (v) => {
      const rs = by(v.name);
      return {
        variant: v.name,
        label: v.label,
        overlapping: v.overlapping === true,
        rate: median(rs.map((r) => r.rate)),
        busyRate: median(rs.map((r) => r.busyRate)),
        cpuUs: median(rs.map((r) => r.cpuUsPerRecord)),
        batchP50: median(rs.map((r) => r.batchMs.p50)),
        batchMax: Math.max(...rs.map((r) => r.batchMs.max)),
        lateP99: Math.max(...rs.map((r) => r.lateMs.p99)),
        lateMax: Math.max(...rs.map((r) => r.lateMs.max)),
        heapKept: Math.max(...rs.map((r) => r.heap.end - r.heap.start)),
        heapPeak: Math.max(...rs.map((r) => r.heap.peak)),
        rssStart: rs[0].rss.start,
        rssPeak: Math.max(...rs.map((r) => r.rss.peak)),
        rssEnd: rs[rs.length - 1].rss.end,
        rssClimb: Math.max(...rs.map((r) => r.rssClimb)),
        bytesPerRecord: median(rs.map((r) => r.dbBytes / r.records)),
        otherLoad: Math.max(...rs.map((r) => r.otherLoad)),
        ticks: Math.min(...rs.map((r) => r.ticks)),
        complete: rs.every((r) => r.complete),
      };
    };
    const results = variants.map(summaryOf);
    const raw = results[0];
    for (const r of results.slice(1)) {
      r.ratio = r.rate / raw.rate;
      r.cpuRatio = raw.cpuUs / r.cpuUs;
      // null: not judged (runs too short to sample memory and ticks).
      const sampled = r.ticks >= MIN_TICKS;
      r.goals = {
        rate: r.complete && r.rate >= GOAL_RATE,
        ratio: r.complete && raw.complete && r.ratio >= GOAL_RATIO,
        flat: sampled ? r.heapKept <= FLAT_HEAP_BYTES && r.rssClimb <= FLAT_RSS_BYTES : null,
        onTime: sampled ? r.lateMax <= GOAL_LATE_MS : null,
      };
    }
    const sameRows = runs.every((r) => JSON.stringify(r.digest) === JSON.stringify(runs[0].digest));
    const otherLoad = Math.max(...results.map((r) => r.otherLoad));
    const summary = {
      node: process.version,
      betterSqlite3: await betterSqliteVersion(),
      sqlite: sqliteVersion(),
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: availableParallelism(),
      records,
      rounds,
      batchRecords: BATCH_RECORDS,
      agents: AGENTS,
      recordJsonBytes: sizes.json,
      recordValueBytes: sizes.values,
      parseUsPerRecord: parse.usPerRecord,
      sameRows,
      otherLoad,
      quiet: otherLoad <= OTHER_LOAD_WARN,
      results,
      runs,
    };

    if (json) {
      console.log(JSON.stringify(summary, null, 2));
      return;
    }
    const cols = [
      ['variant', 20, (r) => r.label],
      ['records/s', 10, (r) => fmtInt(r.rate)],
      ['in calls', 10, (r) => (r.overlapping ? '-' : fmtInt(r.busyRate))],
      ['µs CPU/rec', 10, (r) => r.cpuUs.toFixed(2)],
      ['call p50', 10, (r) => `${r.batchP50.toFixed(2)} ms`],
      ['call max', 10, (r) => `${r.batchMax.toFixed(1)} ms`],
      ['late p99/max', 14, (r) => `${r.lateP99.toFixed(1)}/${r.lateMax.toFixed(1)} ms`],
      ['heap kept', 10, (r) => `${fmtMB(r.heapKept)} MB`],
      ['rss start/peak', 15, (r) => `${fmtMB(r.rssStart)}/${fmtMB(r.rssPeak)} MB`],
      ['rss climb', 10, (r) => `${fmtMB(r.rssClimb)} MB`],
      ['B/rec', 6, (r) => r.bytesPerRecord.toFixed(0)],
      ['other load', 10, (r) => `${(r.otherLoad * 100).toFixed(0)}%`],
    ];
    const line = (cells) =>
      cells.map((c, i) => (i === 0 ? c.padEnd(cols[i][1]) : c.padStart(cols[i][1]))).join(' ');
    console.log('');
    console.log(
      `node ${summary.node}, better-sqlite3 ${summary.betterSqlite3}, SQLite ${summary.sqlite}, ` +
        `${summary.cores} cores (${summary.cpu})`,
    );
    console.log(
      `records: ${sizes.json.toFixed(0)} bytes of JSON each (${sizes.values.toFixed(0)} of values); ` +
        `same rows stored by every run: ${sameRows ? 'yes' : 'NO'}`,
    );
    console.log(
      `medians of ${rounds} run(s) of ${fmtInt(records)} records; call max, late, heap, rss, other load: the worst run`,
    );
    console.log(line(cols.map((c) => c[0])));
    for (const r of results) console.log(line(cols.map((c) => c[2](r))));
    for (const r of results.slice(1))
      console.log(
        `ratio ${r.variant}/raw: ${r.ratio.toFixed(3)} (from CPU per record: ${r.cpuRatio.toFixed(3)})`,
      );
    console.log(
      `for context: decoding and validating the same batches as link messages (parseMessage) costs ` +
        `${parse.usPerRecord.toFixed(2)} µs per record (${fmtInt(1e6 / parse.usPerRecord)} records/s), not counted above`,
    );
    if (!summary.quiet)
      console.log(
        `warning: other processes took up to ${(otherLoad * 100).toFixed(0)}% of the cores during a run: ` +
          'the figures are suspect; run again on a quiet machine',
      );
    const verdict = (ok) => (ok === null ? 'n/a (runs too short)' : ok ? 'PASS' : 'FAIL');
    const goalLines = [
      ['rate', `>= ${fmtInt(GOAL_RATE)} records/s`],
      ['ratio', `>= ${GOAL_RATIO} of raw`],
      [
        'flat',
        `flat memory (heap kept <= ${FLAT_HEAP_BYTES / MB} MB, rss climb <= ${FLAT_RSS_BYTES / MB} MB)`,
      ],
      ['onTime', `${TICK_MS} ms ticks at most ${GOAL_LATE_MS} ms late`],
    ];
    for (const [key, text] of goalLines)
      console.log(
        `goal: ${text.padEnd(58)} ${results
          .slice(1)
          .map((r) => `${r.variant} ${verdict(r.goals[key])}`)
          .join('  ')}`,
      );
  } finally {
    cleanup();
  }
}

async function betterSqliteVersion() {
  const { createRequire } = await import('node:module');
  return createRequire(import.meta.url)('better-sqlite3/package.json').version;
}

function sqliteVersion() {
  const db = new Database(':memory:');
  try {
    return db.prepare('SELECT sqlite_version() AS v').get().v;
  } finally {
    db.close();
  }
}

main().catch((err) => {
  console.error(err instanceof BenchError ? `bench/ingest: ${err.message}` : err);
  process.exitCode = 1;
});
