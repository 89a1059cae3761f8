// Hostile input, kept tried (issue 29, item 5): rows of the fault suite that each start a
// whole site, send one kind of hostile input to one component, and say what it answered,
// whether every component stayed up (process alive, /healthz 200) and whether anything was
// stored that should not be (rows counted in the manager's store, read-only). Every attack
// goes to 127.0.0.1, is bounded in count and in time, and needs no link secret: it comes
// before proof (the manager's /link), through the agent's socket (with or without its local
// key), or over HTTP. See docs/reliability.md.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { get, redirectsTo } from './load.mjs';
import { sleep, startSite, stopSite, TOKEN, waitFor } from './site.mjs';

/** The manager's /healthz must answer within this long all through a link attack, ms. */
export const HEALTH_GOAL_MS = 1000;
/**
 * A normal GET while twelve clients flood the interceptor with 240,000 pipelined requests: it
 * must be answered, not refused. The interceptor parses the flood on its one event loop (in
 * turns of up to a few hundred ms on a busy 2-core machine), so the bound is looser than
 * /healthz's: 0.4 s alone, 1.5 s beside a test run.
 */
export const SLOW_READER_GOAL_MS = 3000;
/** A component started during an attack on /link must link within this long of starting, ms. */
export const LINK_GOAL_MS = 10_000;

export const HOSTILE_ROWS = [
  {
    name: 'link-prebig',
    label: "16 MiB nested JSON frame (`[[[...`) to the manager's /link before proof, on 4 connections",
    hostile: linkPrebig,
  },
  {
    name: 'link-silent',
    label:
      '40 connections upgrade to /link and never answer the challenge; the interceptor restarts meanwhile',
    hostile: linkSilent,
  },
  {
    name: 'local-longline',
    label: "80 MiB without a newline on the agent's Unix socket",
    hostile: localLongLine,
  },
  {
    name: 'local-forged-hello',
    label: "hello as web-a on the agent's socket without the local key's proof (none, made-up, wrong key)",
    hostile: localForgedHello,
  },
  {
    name: 'local-unknown-server',
    label:
      'an interface with the local key: records for web-z (not in the site file), lines of 1,025 and 50,000 records',
    hostile: localUnknownServer,
  },
  {
    name: 'interface-absolute-target',
    label:
      'to web-a while it redirects: `GET http://evil.example/x`, `OPTIONS *`, `//evil.example`, `Host: evil.example`',
    hostile: absoluteTarget,
  },
  {
    name: 'interceptor-slow-reader',
    label: '12 clients pipeline 20,000 requests each to the interceptor and never read an answer',
    hostile: slowReaders,
  },
];

// ---------------------------------------------------------------------------------------
// The runner

/** Every socket an attack opened: destroyed when its row ends, whatever happened. */
const sockets = new Set();
function track(s) {
  sockets.add(s);
  s.once('close', () => sockets.delete(s));
  return s;
}
function destroyAll() {
  for (const s of sockets) s.destroy();
  sockets.clear();
}

/**
 * Runs one hostile row on a fresh site: the attack, then who is up, then the site stopped.
 * Passes when the defence held (the row's own goal), every component is up, and nothing was
 * stored that should not be.
 */
export async function runHostileRow(row, o) {
  const site = await startSite({ dist: o.dist });
  site.dist = o.dist;
  let r;
  try {
    site.agentUrl = agentMetricsUrl(site);
    r = await row.hostile(site, o);
    destroyAll();
    const up = await allUp(site);
    r.up = up.up;
    r.notes = [...(r.notes ?? []), ...up.notes];
  } finally {
    destroyAll();
    await stopSite(site);
  }
  return {
    name: row.name,
    label: row.label,
    hostile: true,
    ...r,
    pass: r.held && r.up && r.storedWrongly === 0,
    dir: site.dir,
  };
}

/** Where the agent serves /metrics and /healthz: its first log line says (a free port by default). */
function agentMetricsUrl(site) {
  const m = /"metrics":"(http:\/\/[^"]+)"/.exec(site.components.agent.output);
  if (!m) throw new Error("the agent's log does not say where its /metrics is");
  return m[1];
}

/**
 * Every component up: its process alive and never exited by itself, and its /healthz
 * answering 200 (manager, agent, interceptor's admin address, each demo server through its
 * interface).
 */
async function allUp(site) {
  const notes = [];
  const down = new Set();
  for (const [name, c] of Object.entries(site.components)) {
    if (!c.alive) down.add(name);
    for (const u of c.unexpected) notes.push(u);
    if (c.unexpected.length > 0) down.add(name);
  }
  const health = {
    manager: `${site.urls.manager}/healthz`,
    agent: `${site.agentUrl}/healthz`,
    interceptor: `${site.urls.admin}/healthz`,
    'web-a': `${site.urls['web-a']}/healthz`,
    'web-b': `${site.urls['web-b']}/healthz`,
  };
  for (const [name, url] of Object.entries(health)) {
    const a = await get(url, 2000);
    if (a.status === 200) continue;
    down.add(name);
    notes.push(`${name}'s /healthz answered ${a.error ?? a.status}`);
  }
  if (down.size > 0) notes.push(`down: ${[...down].join(', ')}`);
  return { up: down.size === 0, notes };
}

// ---------------------------------------------------------------------------------------
// What the components say: metrics, health, logs, memory, the store

/** One Prometheus page, as a function of a metric's name and labels (undefined when absent). */
async function scrape(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  const text = await res.text();
  const value = (name, labels = {}) => {
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
      if (!m || m[1] !== name) continue;
      const has = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      if (Object.entries(labels).every(([k, v]) => has[k] === v)) return Number(m[3]);
    }
    return undefined;
  };
  /** The sum over every label set of a metric. */
  value.sum = (name) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return value;
}

/**
 * Asks `url` every `every` ms, each on a connection of its own, until stopped (or 60 s): the
 * worst answer time and the answers that were not `ok` (a 200). `stop()` gives them.
 */
function watchHealth(url, every = 50, ok = (a) => a.status === 200) {
  let stopping = false;
  const seen = { asked: 0, worstMs: 0, bad: [] };
  const done = (async () => {
    const end = Date.now() + 60_000;
    while (!stopping && Date.now() < end) {
      const t0 = performance.now();
      const a = await get(url, 3000);
      seen.worstMs = Math.max(seen.worstMs, performance.now() - t0);
      seen.asked++;
      if (!ok(a)) seen.bad.push(a.error ?? String(a.status));
      await sleep(every);
    }
    return seen;
  })();
  return {
    stop: () => {
      stopping = true;
      return done;
    },
  };
}
const healthText = (h) =>
  `worst ${Math.round(h.worstMs)} ms of ${h.asked}${h.bad.length > 0 ? `, ${h.bad.length} failed (${[...new Set(h.bad)].join(', ')})` : ''}`;

/** Peak and current resident memory of a process, MiB (/proc/PID/status). */
function memory(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? Number.NaN);
    return { peak: kb('VmHWM') / 1024, now: kb('VmRSS') / 1024 };
  } catch {
    return { peak: Number.NaN, now: Number.NaN };
  }
}

/** One figure of the store, read with a connection of our own (read-only). */
function storeCount(dbFile, sql, ...params) {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    return db
      .prepare(sql)
      .pluck()
      .get(...params);
  } finally {
    db.close();
  }
}

/** Lines of a component's output (its current process) written after `mark` that match `re`. */
const linesSince = (c, mark, re) =>
  c.output
    .slice(mark)
    .split('\n')
    .filter((l) => re.test(l));

/** Where each component's output stands now: linesSince reads from there. */
const marks = (site) =>
  Object.fromEntries(Object.entries(site.components).map(([n, c]) => [n, c.output.length]));

const LINK_DOWN = /link to the manager at \S+ is down/;
const ms = (x) => `${Math.round(x)} ms`;

// ---------------------------------------------------------------------------------------
// A peer of the manager's /link that has not proved itself: raw frames over a TCP socket, so
// it answers nothing the manager sends (not even its close) unless told.

/**
 * Dials /link and asks for the upgrade. Resolves once the manager answers the upgrade (its
 * HTTP status), the socket closes, or 10 s pass. The peer then notes, as they come, the
 * challenge, the manager's close frame (and code), and when the manager ended the TCP
 * connection; times are performance.now().
 */
function dialLink(port) {
  return new Promise((resolve) => {
    const s = track(connect(port, '127.0.0.1'));
    const peer = { socket: s, at: performance.now(), status: undefined, challenge: false };
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const timer = setTimeout(() => resolve(peer), 10_000);
    const answered = () => {
      clearTimeout(timer);
      resolve(peer);
    };
    s.on('error', (e) => {
      peer.error ??= e.code ?? e.message;
    });
    s.on('end', () => {
      peer.endAt ??= performance.now();
    });
    s.on('close', () => {
      peer.closedAt = performance.now();
      answered();
    });
    s.once('connect', () =>
      s.write(
        `GET /link HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    s.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        peer.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(buf.toString('latin1', 0, end))?.[1]);
        peer.answeredAt = performance.now();
        buf = buf.subarray(end + 4);
        upgraded = true;
        answered();
        if (peer.status !== 101) return;
      }
      // The manager's frames are not masked: FIN/opcode, length (7, 16 or 64 bits), payload.
      for (;;) {
        if (buf.length < 2) return;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        const op = buf[0] & 0x0f;
        const payload = buf.subarray(off, off + len);
        if (op === 1 && payload.includes('"challenge"')) peer.challenge = true;
        if (op === 8) {
          peer.closeFrameAt ??= performance.now();
          peer.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        }
        buf = buf.subarray(off + len);
      }
    });
  });
}

const peerDone = (p) => p.closeFrameAt !== undefined || p.endAt !== undefined || p.closedAt !== undefined;

/**
 * One text frame of `bytes` bytes of '[' (a nested JSON array that never ends), masked as a
 * client must (a zero key: the payload goes as it is), written 1 MiB at a time as the socket
 * takes it, until it is all written, the manager closes, or 15 s pass. Gives the bytes written.
 */
async function sendBigFrame(peer, bytes) {
  const s = peer.socket;
  const head = Buffer.alloc(14);
  head[0] = 0x81;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(BigInt(bytes), 2);
  s.write(head);
  const chunk = Buffer.alloc(1 << 20, '[');
  let sent = 0;
  const end = Date.now() + 15_000;
  while (sent < bytes && !peerDone(peer) && !s.destroyed && Date.now() < end) {
    const n = Math.min(chunk.length, bytes - sent);
    const flushed = s.write(chunk.subarray(0, n));
    sent += n;
    if (!flushed) await Promise.race([new Promise((r) => s.once('drain', r)), sleep(250)]);
  }
  return sent;
}

/** The manager's view of the links (its /metrics) and the agent's own. */
async function linkState(site) {
  const m = await scrape(`${site.urls.manager}/metrics`);
  const a = await scrape(`${site.agentUrl}/metrics`);
  return {
    agent: m('switchyard_manager_links', { role: 'agent' }) ?? 0,
    interceptor: m('switchyard_manager_links', { role: 'interceptor' }) ?? 0,
    replaced:
      (m('switchyard_manager_links_replaced_total', { role: 'agent' }) ?? 0) +
      (m('switchyard_manager_links_replaced_total', { role: 'interceptor' }) ?? 0),
    agentSays: a('switchyard_agent_manager_connected') ?? 0,
  };
}

/** Whether the agent's and the interceptor's links stayed up since `mark`: their logs and the manager's gauge. */
async function linksKept(site, mark, before) {
  const now = await linkState(site);
  const drops = ['agent', 'interceptor'].flatMap((n) =>
    linesSince(site.components[n], mark[n], LINK_DOWN).map(() => n),
  );
  const kept =
    drops.length === 0 &&
    now.agent === 1 &&
    now.interceptor === 1 &&
    now.agentSays === 1 &&
    now.replaced === before.replaced;
  return {
    kept,
    text: kept
      ? 'agent and interceptor stayed linked'
      : `links: ${drops.length} drops (${drops.join(', ') || 'none'}); manager sees agent ${now.agent}, interceptor ${now.interceptor}; ${now.replaced - before.replaced} replaced`,
  };
}

// ---------------------------------------------------------------------------------------
// The rows

/**
 * 1. Four peers each send a 16 MiB text frame of '[' before proving themselves. The manager
 * reads at most 4 KiB a frame before proof (D47), so each should be cut at its header.
 */
async function linkPrebig(site) {
  const mark = marks(site);
  const before = await linkState(site);
  const pid = site.components.manager.pid;
  const mem0 = memory(pid);
  const health = watchHealth(`${site.urls.manager}/healthz`);
  await sleep(200);
  const bytes = 16 * 1024 * 1024;
  const peers = await Promise.all(Array.from({ length: 4 }, () => dialLink(site.ports.manager)));
  await Promise.all(
    peers.map((p) =>
      waitFor('the challenge', () => p.challenge || p.closedAt !== undefined, 5000).catch(() => {}),
    ),
  );
  const t0 = performance.now();
  const sent = await Promise.all(
    peers.map((p) => (p.status === 101 && p.challenge ? sendBigFrame(p, bytes) : 0)),
  );
  // What the manager did with each: close frame, then the end of the connection.
  await waitFor('the manager to close every peer', () => peers.every(peerDone), 5000).catch(() => {});
  await sleep(500);
  const h = await health.stop();
  const mem1 = memory(pid);
  const links = await linksKept(site, mark, before);
  const closed = peers.filter((p) => p.closeFrameAt !== undefined || p.endAt !== undefined);
  const codes = [...new Set(peers.map((p) => p.closeCode ?? 'none'))].join(', ');
  const after = peers.map((p) => Math.min(p.closeFrameAt ?? Infinity, p.endAt ?? Infinity) - t0);
  const errors = linesSince(site.components.manager, mark.manager, /link error from .*Max payload/).length;
  // 16 MiB is what a proven peer may send (MAX_MESSAGE_BYTES): a close with 1009 (too big)
  // says the 4 KiB limit before proof cut it, at its header.
  const held =
    closed.length === peers.length &&
    peers.every((p) => p.closeCode === 1009) &&
    Math.max(...after) < HEALTH_GOAL_MS &&
    h.worstMs < HEALTH_GOAL_MS &&
    h.bad.length === 0 &&
    links.kept;
  const kib = Math.round(Math.max(...sent) / 1024);
  return {
    held,
    answer: `closed ${closed.length} of ${peers.length} (code ${codes}) within ${ms(Math.max(...after))}; /healthz ${healthText(h)}`,
    storedWrongly: 0,
    stored: 'nothing to store (no proof)',
    notes: [
      `each peer wrote at most ${kib} KiB of its 16 MiB before it saw the close; manager log: ${errors} "link error ... Max payload size exceeded"`,
      `manager peak memory ${mem0.peak.toFixed(0)} → ${mem1.peak.toFixed(0)} MiB (what it read and threw away, not yet collected)`,
      links.text,
    ],
  };
}

/**
 * 2. 40 peers upgrade and then say nothing, and answer nothing, not even the manager's close.
 * The interceptor is killed and started again half a second in: it must link while the
 * attack lasts (pending handshakes wait their turn, D47), the agent's link must stay up,
 * and /healthz must stay fast.
 */
async function linkSilent(site) {
  const mark = marks(site);
  const health = watchHealth(`${site.urls.manager}/healthz`);
  const t0 = performance.now();
  const dialled = Array.from({ length: 40 }, () => dialLink(site.ports.manager));
  await sleep(500);
  // A component that starts during the attack: the interceptor, killed and started again.
  const ic = site.components.interceptor;
  await ic.kill();
  const startedAt = performance.now();
  let linkedAt;
  let failed;
  // Watched for the goal and a second more; start() itself would wait 15 s.
  await Promise.race([
    ic.start().then(
      () => {
        linkedAt ??= performance.now();
      },
      (e) => {
        failed ??= e.message;
      },
    ),
    sleep(LINK_GOAL_MS + 1000).then(() => {
      failed ??= `no "connected to the manager" within ${(LINK_GOAL_MS + 1000) / 1000} s`;
    }),
  ]);
  const h = await health.stop();
  const all = await Promise.all(dialled);
  const upgraded = all.filter((p) => p.status === 101);
  const refusedUpgrade = all.filter((p) => p.status !== undefined && p.status !== 101);
  const closeFrames = upgraded.filter((p) => p.closeFrameAt !== undefined);
  const tcpClosed = upgraded.filter((p) => p.endAt !== undefined || p.closedAt !== undefined);
  const frameAfter = closeFrames.map((p) => p.closeFrameAt - p.answeredAt);
  // The interceptor's own words about its tries.
  const tries = ic.output.split('\n').filter((l) => LINK_DOWN.test(l) || /connected to the manager/.test(l));
  const why = [
    ...new Set(tries.map((l) => /is down \(([^)]*)\)/.exec(l)?.[1]).filter((x) => x !== undefined)),
  ];
  const agentDrops = linesSince(site.components.agent, mark.agent, LINK_DOWN).length;
  const now = await linkState(site);
  const took = linkedAt === undefined || failed !== undefined ? undefined : linkedAt - startedAt;
  const held =
    took !== undefined &&
    took <= LINK_GOAL_MS &&
    agentDrops === 0 &&
    now.agent === 1 &&
    h.worstMs < HEALTH_GOAL_MS &&
    h.bad.length === 0;
  const watched = (performance.now() - t0) / 1000;
  const startIn = ((startedAt - t0) / 1000).toFixed(1);
  return {
    held,
    answer:
      (took === undefined
        ? `interceptor started ${startIn} s in: not linked within ${(LINK_GOAL_MS + 1000) / 1000} s`
        : `interceptor started ${startIn} s in linked after ${(took / 1000).toFixed(1)} s`) +
      `; agent link ${agentDrops === 0 ? 'kept' : `dropped ${agentDrops}x`}; /healthz ${healthText(h)}`,
    storedWrongly: 0,
    stored: 'nothing to store (no proof)',
    notes: [
      `of 40: ${upgraded.length} upgraded, ${refusedUpgrade.length} refused at the upgrade (${[...new Set(refusedUpgrade.map((p) => p.status))].join(', ') || '-'}), ${40 - upgraded.length - refusedUpgrade.length} unanswered`,
      `${closeFrames.length} upgraded peers got the manager's close frame (code ${[...new Set(closeFrames.map((p) => p.closeCode))].join(', ') || '-'}) ${closeFrames.length > 0 ? `${(Math.min(...frameAfter) / 1000).toFixed(1)}-${(Math.max(...frameAfter) / 1000).toFixed(1)} s after their upgrade` : ''}; ${tcpClosed.length} had their connection closed by the manager within the ${watched.toFixed(0)} s watched`,
      `the interceptor's link tries: ${why.length > 0 ? why.join('; ') : 'no failure'}`,
      `manager sees agent ${now.agent}, interceptor ${now.interceptor}`,
    ],
  };
}

/** The agent's socket and its local key file (`<socket>.key`, D50). */
const agentSocket = (site) => join(site.dir, 'agent.sock');

/**
 * Dials the agent's Unix socket and waits for its challenge (5 s at most). The connection's
 * lines are kept (bounded), and `answer` makes it answer the agent's questions as an
 * interface would (figures of an idle server, every command ok).
 */
function dialAgent(site, { answer = false } = {}) {
  return new Promise((resolve) => {
    const s = track(connect(agentSocket(site)));
    const c = { socket: s, nonce: undefined, lines: [], closedAt: undefined };
    let rest = '';
    const timer = setTimeout(() => resolve(c), 5000);
    s.setEncoding('utf8');
    s.on('error', (e) => {
      c.error ??= e.code ?? e.message;
    });
    s.on('close', () => {
      c.closedAt = performance.now();
      clearTimeout(timer);
      resolve(c);
    });
    s.on('data', (chunk) => {
      rest += chunk;
      for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        let m;
        try {
          m = JSON.parse(line);
        } catch {
          continue;
        }
        if (c.lines.length < 1000) c.lines.push(m);
        if (m.op === 'challenge' && c.nonce === undefined) {
          c.nonce = m.nonce;
          clearTimeout(timer);
          resolve(c);
        } else if (answer && m.op === 'figures')
          s.write(
            `${JSON.stringify({ t: 'figures', id: m.id, figures: { queueLength: 0, busy: 0, slots: 1, queueDelay: 0, serviceTime: 0, requests: 0, errors: 0 }, refused: 0, redirected: 0 })}\n`,
          );
        else if (answer && typeof m.id === 'number')
          s.write(`${JSON.stringify({ t: 'result', id: m.id, ok: true })}\n`);
      }
      if (rest.length > 1 << 20) rest = '';
    });
  });
}

/** Writes `data` and resolves once the socket took it (or closed, or 5 s passed). */
function writeAll(s, data) {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(false);
    const timer = setTimeout(() => resolve(false), 5000);
    s.write(data, (e) => {
      clearTimeout(timer);
      resolve(!e);
    });
  });
}

/** What the agent's /metrics says of its local channel. */
async function agentLocal(site) {
  const a = await scrape(`${site.agentUrl}/metrics`);
  return {
    records: a('switchyard_agent_records_total') ?? 0,
    invalid: a('switchyard_agent_local_invalid') ?? 0,
    refusedHellos: a('switchyard_agent_local_refused_hellos') ?? 0,
    interfaces: a('switchyard_agent_interfaces') ?? 0,
  };
}

/** The real interfaces' sessions stayed: no disconnection in the agent's log or theirs since `mark`. */
function sessionsKept(site, mark) {
  const gone = linesSince(site.components.agent, mark.agent, /interface of web-[ab] .*disconnected/).length;
  const lost = ['web-a', 'web-b'].flatMap((n) =>
    linesSince(site.components[n], mark[n], /records are dropped until it is back/).map(() => n),
  );
  return { kept: gone === 0 && lost.length === 0, gone, lost };
}

/**
 * 3. 80 MiB without a newline on the agent's socket. The agent reads at most 64 KiB of a line
 * (D48): the rest is skipped to its newline and counted, and its memory must not grow by it.
 */
async function localLongLine(site) {
  const mark = marks(site);
  const before = await agentLocal(site);
  const pid = site.components.agent.pid;
  const mem0 = memory(pid);
  const health = watchHealth(`${site.agentUrl}/healthz`);
  const c = await dialAgent(site);
  if (c.nonce === undefined) throw new Error(`the agent sent no challenge (${c.error ?? 'silent'})`);
  const bytes = 80 * 1024 * 1024;
  const chunk = Buffer.alloc(1 << 20, 'x');
  const t0 = performance.now();
  let sent = 0;
  const end = Date.now() + 20_000;
  while (sent < bytes && c.closedAt === undefined && Date.now() < end) {
    if (!c.socket.write(chunk))
      await Promise.race([new Promise((r) => c.socket.once('drain', r)), sleep(250)]);
    sent += chunk.length;
  }
  // Written to the socket; the agent has read it all when the newline's effect shows.
  await writeAll(c.socket, '\n');
  const took = performance.now() - t0;
  await sleep(300);
  const open = c.closedAt === undefined;
  const h = await health.stop();
  const after = await agentLocal(site);
  const mem1 = memory(pid);
  const kept = sessionsKept(site, mark);
  const stored = storeCount(
    site.dbFile,
    "SELECT count(*) FROM records WHERE server NOT IN ('web-a', 'web-b') OR path LIKE 'xxxx%'",
  );
  const counted = after.invalid - before.invalid;
  const grew = mem1.peak - mem0.peak;
  // Garbage of what was read and thrown away shows in the peak; a line kept whole would add
  // at least its own size.
  const held =
    counted >= 1 &&
    kept.kept &&
    after.interfaces === before.interfaces &&
    h.bad.length === 0 &&
    grew < bytes / 1048576;
  return {
    held,
    answer: `line refused and counted (switchyard_agent_local_invalid +${counted}); connection ${open ? 'kept open, the rest skipped to its newline (D48)' : 'closed by the agent'}; agent /healthz ${healthText(h)}`,
    storedWrongly: stored,
    stored: `${stored} records of an unknown server or the line`,
    notes: [
      `${(sent / 1048576).toFixed(0)} MiB written in ${(took / 1000).toFixed(1)} s; agent peak memory ${mem0.peak.toFixed(0)} → ${mem1.peak.toFixed(0)} MiB (less than the line: it was not kept)`,
      kept.kept
        ? `web-a and web-b kept their sessions (${after.interfaces} interface processes)`
        : `sessions: ${kept.gone} disconnections in the agent's log; ${kept.lost.join(', ')} lost the agent`,
    ],
  };
}

/**
 * 4. A process that cannot read the local key says hello as web-a: with no proof, with a
 * made-up one, and with one made under another key. Then lines before any hello. The
 * agent must refuse each hello and close, keep the real web-a's session, and the manager
 * must not mark web-a failed nor see its load change.
 */
async function localForgedHello(site) {
  const mark = marks(site);
  const before = await agentLocal(site);
  const m0 = await scrape(`${site.urls.manager}/metrics`);
  const L0 = m0('switchyard_manager_server_load_value', { server: 'web-a' });
  const { localProof } = await import(join(site.dist, 'protocol', 'local-proof.js'));
  const hello = (proof) => ({ t: 'hello', server: 'web-a', pid: 4242, ...(proof ? { proof } : {}) });
  const tries = [
    { what: 'no proof', line: () => hello() },
    { what: 'made-up proof', line: () => hello(randomBytes(32).toString('base64url')) },
    {
      what: 'proof under another key',
      line: (nonce) => hello(localProof(randomBytes(32), nonce, 'web-a', 4242)),
    },
  ];
  const closedIn = [];
  for (const t of tries) {
    const c = await dialAgent(site);
    if (c.nonce === undefined) throw new Error(`the agent sent no challenge (${c.error ?? 'silent'})`);
    const t0 = performance.now();
    await writeAll(c.socket, `${JSON.stringify(t.line(c.nonce))}\n`);
    await waitFor('the agent to close', () => c.closedAt !== undefined, 2000).catch(() => {});
    closedIn.push(
      c.closedAt === undefined ? `${t.what}: not closed` : `${t.what}: closed in ${ms(c.closedAt - t0)}`,
    );
  }
  // Lines before any hello: figures for web-a, an overflow, a records line. All refused.
  const pre = await dialAgent(site);
  await writeAll(
    pre.socket,
    `${JSON.stringify({ t: 'figures', id: 1, figures: { queueLength: 900, busy: 1, slots: 1, queueDelay: 60000, serviceTime: 20, requests: 0, errors: 0 }, refused: 0, redirected: 0 })}\n` +
      `${JSON.stringify({ t: 'overflow', dropped: 1000 })}\n` +
      `[1,${Date.now()},["GET"],0,0,"/forged",200,0,0,null,"h=forged"]\n`,
  );
  // Two report intervals and a manager tick or two.
  await sleep(1500);
  pre.socket.destroy();
  const after = await agentLocal(site);
  const m1 = await scrape(`${site.urls.manager}/metrics`);
  const L1 = m1('switchyard_manager_server_load_value', { server: 'web-a' });
  const failed = m1('switchyard_manager_server_failed', { server: 'web-a' });
  const level = m1('switchyard_manager_server_level', { server: 'web-a' });
  const kept = sessionsKept(site, mark);
  const refused = after.refusedHellos - before.refusedHellos;
  const stored =
    storeCount(site.dbFile, "SELECT count(*) FROM records WHERE path = '/forged' OR query LIKE 'h=forged%'") +
    storeCount(
      site.dbFile,
      "SELECT count(*) FROM events WHERE code IN ('interface.gone', 'records.overflow', 'interface.back')",
    );
  const held =
    refused === 3 &&
    closedIn.every((x) => !/not closed/.test(x)) &&
    kept.kept &&
    after.interfaces === before.interfaces &&
    failed === 0 &&
    L1 === L0 &&
    level === 0;
  return {
    held,
    answer: `3 of 3 hellos refused and closed (switchyard_agent_local_refused_hellos +${refused}); lines before hello refused (local_invalid +${after.invalid - before.invalid - refused}); web-a ${kept.kept ? 'kept its session' : 'lost its session'}, failed ${failed}, L ${L0} → ${L1}`,
    storedWrongly: stored,
    stored: `${stored} forged records or interface events`,
    notes: [
      closedIn.join(', '),
      `web-a level ${level}; ${before.interfaces} interface processes before and ${after.interfaces} after`,
    ],
  };
}

/** A records line as the interface writes it (local-record.ts), built by the dist's own encoder. */
async function encoder(site) {
  const { encodeRecords } = await import(join(site.dist, 'protocol', 'local-record.js'));
  return (server, queries, path) =>
    encodeRecords(
      queries.map((q) => ({
        server,
        start: Date.now(),
        method: 'GET',
        path,
        status: 200,
        queueWait: 0,
        serviceTime: 1,
        query: q,
      })),
    );
}

/**
 * 5. A process that can read the local key (so it proves itself) says hello as web-z, which
 * is not in the site file, and sends it records; then, as web-a, a line asking for 1,025
 * records (one more than a line may hold) and one asking for 50,000 in 80 bytes. Then one good
 * record as web-a, as a control: once it is in the store, nothing of the rest may be.
 */
async function localUnknownServer(site) {
  const before = await agentLocal(site);
  const { localProof, readLocalKey } = await import(join(site.dist, 'protocol', 'local-proof.js'));
  const key = readLocalKey(`${agentSocket(site)}.key`);
  const line = await encoder(site);
  const proven = async (server) => {
    const c = await dialAgent(site, { answer: true });
    if (c.nonce === undefined) throw new Error(`the agent sent no challenge (${c.error ?? 'silent'})`);
    const pid = process.pid;
    await writeAll(
      c.socket,
      `${JSON.stringify({ t: 'hello', server, pid, proof: localProof(key, c.nonce, server, pid) })}\n`,
    );
    return c;
  };
  const z = await proven('web-z');
  await writeAll(z.socket, `${line('web-z', ['h=unknown-1', 'h=unknown-2', 'h=unknown-3'], '/hostile/z')}\n`);
  const a = await proven('web-a');
  // A line of 1,025 records, one value a column, and one of 50,000 records in 80-odd bytes.
  const many = (n, q) => `[${n},${Date.now()},["GET"],0,0,"/hostile/many",0,0,0,null,"${q}"]\n`;
  await writeAll(a.socket, many(1025, 'h=many-1025') + many(50_000, 'h=many-50000'));
  await sleep(200);
  await writeAll(a.socket, `${line('web-a', ['h=control'], '/hostile/control')}\n`);
  const found = await waitFor(
    'the control record in the store',
    () => storeCount(site.dbFile, "SELECT count(*) FROM records WHERE query = 'h=control'") > 0,
    10_000,
    250,
  ).catch(() => false);
  await writeAll(a.socket, `${JSON.stringify({ t: 'bye' })}\n`);
  await writeAll(z.socket, `${JSON.stringify({ t: 'bye' })}\n`);
  a.socket.end();
  z.socket.end();
  const after = await agentLocal(site);
  const byServer = storeCount(site.dbFile, "SELECT count(*) FROM records WHERE server = 'web-z'");
  const byQuery = storeCount(
    site.dbFile,
    "SELECT count(*) FROM records WHERE query LIKE 'h=unknown%' OR query LIKE 'h=many%'",
  );
  const notOnAgent = linesSince(
    site.components.agent,
    0,
    /an interface for web-z connected, but that server is not on agent/,
  ).length;
  const held = found === true && after.invalid - before.invalid >= 2;
  return {
    held,
    answer: `web-z's hello taken, its records dropped ("not on agent host-1" logged ${notOnAgent}x); both oversized lines refused (local_invalid +${after.invalid - before.invalid}); control record ${found ? 'stored' : 'NOT stored within 10 s'}`,
    storedWrongly: byServer + byQuery,
    stored: `${byServer} records of web-z, ${byQuery} of the oversized lines`,
    notes: [
      `records the agent took in all: ${after.records - before.records} (switchyard_agent_records_total; the control is 1)`,
    ],
  };
}

/** One raw HTTP/1.1 request; resolves to its status and Location (or an error), 5 s at most. */
function rawRequest(port, text) {
  return new Promise((resolve) => {
    const s = track(connect(port, '127.0.0.1'));
    let buf = '';
    const done = (r) => {
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ error: 'no answer within 5 s' }), 5000);
    s.setEncoding('latin1');
    s.on('error', (e) => done({ error: e.code ?? e.message }));
    s.on('close', () => done({ error: 'closed without an answer' }));
    s.on('data', (c) => {
      buf += c;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      done({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]),
        location: /^location: *(.*)$/im.exec(head)?.[1]?.trim(),
      });
    });
    s.once('connect', () => s.write(text));
  });
}

/**
 * 6. Requests with a hostile target or Host to web-a while its interface is redirecting
 * stateless pages (it is pushed past its maximum level by eight clients, as the lease row
 * does, and kept there while the requests go). Every Location must name a server of the
 * site; never evil.example.
 */
async function absoluteTarget(site) {
  const door = site.urls.interceptor;
  const webA = site.urls['web-a'];
  const port = site.ports['web-a'];
  const here = `127.0.0.1:${port}`;
  // Eight closed-loop clients on web-a's one slot until the requests below are done (40 s at most).
  let pushing = true;
  let n = 0;
  let redirecting = false;
  const pushEnd = Date.now() + 40_000;
  const client = async () => {
    while (pushing && Date.now() < pushEnd) {
      const a = await get(`${webA}/shop/push?o=${n++}`, 3000);
      if (redirectsTo(a, door)) redirecting = true;
    }
  };
  const push = Promise.all(Array.from({ length: 8 }, client));
  const tries = [
    ['absolute-form, other Host', `GET http://evil.example/x HTTP/1.1\r\nHost: ${here}\r\n`],
    ['absolute-form, Host evil.example', 'GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\n'],
    ['https absolute-form', 'GET https://evil.example/x HTTP/1.1\r\nHost: evil.example\r\n'],
    ['OPTIONS *', `OPTIONS * HTTP/1.1\r\nHost: ${here}\r\n`],
    ['//evil.example/x', `GET //evil.example/x HTTP/1.1\r\nHost: ${here}\r\n`],
    ['/\\evil.example/x', `GET /\\evil.example/x HTTP/1.1\r\nHost: ${here}\r\n`],
    ['Host: evil.example', 'GET /x HTTP/1.1\r\nHost: evil.example\r\n'],
    ['X-Forwarded-Host', `GET /x HTTP/1.1\r\nHost: ${here}\r\nX-Forwarded-Host: evil.example\r\n`],
  ];
  const results = [];
  let control;
  try {
    await waitFor('web-a to redirect under the push', () => redirecting, 15_000, 100);
    for (const [what, head] of tries) {
      // A control first each time: web-a must be redirecting when the hostile one goes.
      control = await rawRequest(
        port,
        `GET /shop/control HTTP/1.1\r\nHost: ${here}\r\nConnection: close\r\n\r\n`,
      );
      const r = await rawRequest(port, `${head}Connection: close\r\n\r\n`);
      results.push({ what, control: redirectsTo(control, door), ...r });
    }
  } finally {
    pushing = false;
    await push;
  }
  // The site ends as it began: web-a serving normally again (10 s at most).
  await waitFor(
    'web-a to stop redirecting',
    async () => !redirectsTo(await get(`${webA}/shop/probe`, 2000), door),
    10_000,
    200,
  ).catch(() => {});
  const origins = new Set([door, webA, site.urls['web-b']]);
  const bad = results.filter((r) => {
    if (r.location === undefined) return false;
    try {
      return !origins.has(new URL(r.location).origin);
    } catch {
      return true;
    }
  });
  const evil = results.filter((r) => /evil\.example/.test(new URL(r.location ?? '/', 'http://x').host));
  const controlled = results.filter((r) => r.control).length;
  const stored = storeCount(
    site.dbFile,
    "SELECT count(*) FROM records WHERE redirected_to LIKE '%://evil.example%' OR redirected_to LIKE '//%'",
  );
  const held =
    bad.length === 0 && evil.length === 0 && controlled === results.length && results.every((r) => r.status);
  const said = (r) =>
    `${r.what}: ${r.status ?? r.error}${r.location ? ` → ${r.location.replace(/\?.*$/, '?…')}` : ''}`;
  return {
    held,
    answer: `${results.length - bad.length} of ${results.length} answers with no Location off the site (${results.filter((r) => r.location).length} redirected to the interceptor, the rest served); web-a redirecting at each: ${controlled} of ${results.length}`,
    storedWrongly: stored,
    stored: `${stored} records redirected off the site`,
    notes: [
      results.map(said).join('; '),
      `records whose path is an absolute-form target, as sent (web-a served them): ${storeCount(site.dbFile, "SELECT count(*) FROM records WHERE path LIKE 'http%'")}`,
    ],
  };
}

/**
 * 7. Twelve clients write 20,000 pipelined requests each to the interceptor and never read
 * a byte. Past maxPipelined answers waiting (16), or sendTimeout (10 s) without taking any,
 * a connection is cut and its slots come back (D51). A normal client asks every 50 ms
 * meanwhile. A client that reads nothing cannot see its connection cut (a paused socket hears
 * no close), so once the interceptor's refusals stop growing each client reads again: a
 * connection that was cut ends within a second, one that was not goes on being answered.
 */
async function slowReaders(site) {
  const admin = site.urls.admin;
  const port = site.ports.interceptor;
  const figures = async () => {
    const m = await scrape(`${admin}/metrics`);
    return {
      pipelined: m('switchyard_interceptor_refusals_total', { reason: 'pipelined' }) ?? 0,
      sendTimeout: m('switchyard_interceptor_refusals_total', { reason: 'send-timeout' }) ?? 0,
      overloaded: m('switchyard_interceptor_refusals_total', { reason: 'overloaded' }) ?? 0,
      requests: m.sum('switchyard_interceptor_requests_total'),
      // The longest the event loop was held since the last scrape (prom-client resets it).
      lag: m('nodejs_eventloop_lag_max_seconds') ?? 0,
    };
  };
  const inFlight = async () => {
    const res = await fetch(`${admin}/status`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      signal: AbortSignal.timeout(3000),
    });
    const body = await res.json();
    return body.applications.find((a) => a.name === 'shop');
  };
  const before = await figures();
  // A normal user meanwhile: a GET every 50 ms, on a connection of its own; a 302 is its answer.
  const health = watchHealth(`${site.urls.interceptor}/shop/normal`, 50, (a) => a.status === 302);
  await sleep(200);
  const one = 'GET /hostile/pipe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  const t0 = performance.now();
  const clients = await Promise.all(
    Array.from(
      { length: 12 },
      () =>
        new Promise((resolve) => {
          const s = track(connect(port, '127.0.0.1'));
          const c = { socket: s, closedAt: undefined };
          s.pause();
          s.on('error', () => {});
          s.on('close', () => {
            c.closedAt = performance.now();
          });
          s.once('connect', () => {
            for (let i = 0; i < 20; i++) s.write(one.repeat(1000));
            resolve(c);
          });
          setTimeout(() => resolve(c), 5000);
        }),
    ),
  );
  // Until the refusals have not grown for a second (15 s at most: sendTimeout is 10 s).
  let last = before;
  let since = performance.now();
  let busiest = 0;
  let lag = 0;
  const end = performance.now() + 15_000;
  while (performance.now() < end) {
    await sleep(200);
    const now = await figures();
    lag = Math.max(lag, now.lag);
    busiest = Math.max(busiest, (await inFlight().catch(() => undefined))?.inFlight ?? 0);
    if (now.pipelined + now.sendTimeout !== last.pipelined + last.sendTimeout) since = performance.now();
    last = now;
    if (
      last.pipelined + last.sendTimeout > before.pipelined + before.sendTimeout &&
      performance.now() - since >= 1000
    )
      break;
  }
  const quietAt = performance.now() - t0;
  const h = await health.stop();
  for (const c of clients) c.socket.resume();
  await waitFor(
    'the cut clients to see it',
    () => clients.every((c) => c.closedAt !== undefined),
    1000,
  ).catch(() => {});
  const cut = clients.filter((c) => c.closedAt !== undefined).length;
  for (const c of clients) c.socket.destroy();
  await sleep(200);
  const app = await inFlight();
  const byPipe = last.pipelined - before.pipelined;
  const byTimeout = last.sendTimeout - before.sendTimeout;
  const stored = storeCount(site.dbFile, "SELECT count(*) FROM records WHERE path LIKE '/hostile/pipe%'");
  const overloaded = last.overloaded - before.overloaded;
  // The slots are the application's (maxConcurrent): twelve clients must not take them all,
  // and nobody may be refused for want of one.
  const held =
    cut === 12 &&
    h.bad.length === 0 &&
    h.worstMs < SLOW_READER_GOAL_MS &&
    app.inFlight === 0 &&
    busiest < app.maxConcurrent &&
    overloaded === 0;
  return {
    held,
    answer: `cut ${cut} of 12 connections (refusals: pipelined +${byPipe}, send-timeout +${byTimeout}, all within ${(quietAt / 1000 - 1).toFixed(1)} s); slots held at most ${busiest} of ${app.maxConcurrent}, ${app.inFlight} after; refused as overloaded: ${overloaded}; a normal GET meanwhile: ${healthText(h)}`,
    storedWrongly: stored,
    stored: `${stored} records of the pipelined path`,
    notes: [
      ...(byPipe + byTimeout > cut
        ? [
            `the refusal counters count requests: the ${byPipe + byTimeout - cut} more are requests already read from a connection when it was cut, each still handled (and given a slot) until the close`,
          ]
        : []),
      `requests the interceptor answered meanwhile: ${last.requests - before.requests} (switchyard_interceptor_requests_total)`,
      `slots sampled every 200 ms (/status inFlight); overloaded is refusals_total{reason="overloaded"}, requests refused because maxConcurrent was reached; the interceptor's event loop held at most ${Math.round(lag * 1000)} ms at a time`,
    ],
  };
}
