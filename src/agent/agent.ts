import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, resolve as resolvePath } from 'node:path';
import { loadSite } from '../config/load.js';
import { managerLinkUrl } from '../config/monitoring-schema.js';
import { parseHostPort } from '../config/schema.js';
import { componentKey } from '../config/secret-file.js';
import { managerCa } from '../config/tls-files.js';
import { combineFigures } from '../core/combine-figures.js';
import type { Clock } from '../core/random.js';
import { followService, reportEvery } from '../core/report-interval.js';
import { SwitchyardError } from '../errors.js';
import { Delivery } from '../link/delivery.js';
import { LinkClient } from '../link/link-client.js';
import { Outbox } from '../link/outbox.js';
import { boundAddress, listenOn } from '../listen.js';
import { createLogger, type Logger } from '../log/logger.js';
import { ensureLocalKey } from '../protocol/local-proof.js';
import { fieldMask } from '../protocol/local-record.js';
import type { Command, Message, RequestRecord, Sample, SwitchyardEvent } from '../protocol/messages.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { Batcher } from './batcher.js';
import { hostFacts } from './host-facts.js';
import { type HostPerf, rates, type Snapshot, snapshot } from './host-perf.js';
import { answers, InterfaceListener, type InterfaceSession } from './interface-listener.js';
import { createAgentMetrics } from './metrics.js';
import { ServerWatch } from './server-watch.js';
import { Spool } from './spool.js';

/**
 * The agent (document 002 section IV): one per host. It listens on a Unix socket for the
 * interfaces of the host's servers, relays their queue figures to the manager every report
 * interval (the fast path, never batched), batches their request records, samples the
 * host's performance, probes and checks its servers (server-watch.ts), and carries out the
 * manager's commands. While the manager is away it keeps working and keeps what must not be
 * lost in a bounded outbox, sent oldest first once the manager is back.
 *
 * @example
 * const agent = await startAgent({ configFile: 'site.yaml', name: 'host-1' });
 * await agent.close();
 */

export interface AgentOptions {
  configFile: string;
  name: string;
  /** Overrides the manager URL of the site file (tests). */
  managerUrl?: string;
  /** Overrides agents[].spoolDir (`switchyard agent --data-dir`). */
  spoolDir?: string;
  log?: Logger;
  clock?: Clock;
}

export interface Agent {
  socket: string;
  /** http://host:port of the agent's /metrics and /healthz. */
  metricsUrl: string;
  readonly connected: boolean;
  /** Records and events waiting for the manager's acknowledgement. */
  readonly buffered: number;
  readonly dropped: number;
  close(): Promise<void>;
}

type Body = { records: RequestRecord[]; events: SwitchyardEvent[]; samples: Sample[] };

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const log = opts.log ?? createLogger('agent');
  const clock = opts.clock ?? (() => performance.now());
  const loaded = loadSite(opts.configFile);
  const { site } = loaded;
  const m = site.manager;
  const cfg = site.agents.find((a) => a.name === opts.name);
  if (!m || !cfg)
    throw new SwitchyardError(
      'SY_ERR_CONFIG',
      `${opts.configFile}: no agent named "${opts.name}" under "agents" (have: ${site.agents.map((a) => a.name).join(', ') || 'none'})`,
    );
  const key = componentKey('agent', opts.configFile, m.keys);
  const socketPath = resolvePath(dirname(resolvePath(opts.configFile)), cfg.socket);
  const url = opts.managerUrl ?? managerLinkUrl(m);
  // Over TLS, the manager's certificate is checked against the site's CA (D53).
  const ca = url.startsWith('wss:') ? managerCa(opts.configFile, m) : undefined;
  const mine = new Set(cfg.servers);
  /** The record fields the site file asks of every interface on the host (agents[].fields). */
  const fields = fieldMask(cfg.fields);
  if (!cfg.fields.includes('query') && cfg.probeInterval > 0)
    log.warn(
      `agent ${opts.name}: records leave out the query (agents[].fields), so probes give each server's response time only, not its queue delay`,
    );

  // What was held for the manager when the last process stopped (or died) comes back first.
  const siteDir = dirname(resolvePath(opts.configFile));
  const spoolDir = resolvePath(
    siteDir,
    opts.spoolDir ?? cfg.spoolDir ?? resolvePath(siteDir, m.dataDir, `agent-${opts.name}`),
  );
  // Another agent already running here owns the socket and the spool: refused before either is touched.
  if (existsSync(socketPath) && (await answers(socketPath)))
    throw new SwitchyardError(
      'SY_ERR_CONFIG',
      `another agent is listening on ${socketPath}; stop it first, or give this one its own socket (agents[].socket)`,
    );
  let opened: ReturnType<typeof Spool.open>;
  try {
    opened = Spool.open(spoolDir, { maxBytes: cfg.spoolBytes });
  } catch (e) {
    throw new SwitchyardError(
      'SY_ERR_CONFIG',
      `cannot open the agent's spool in ${spoolDir} (agents[].spoolDir): ${(e as Error).message}`,
    );
  }
  const { spool, restored } = opened;
  // Bounded by items and by bytes: the spool file holds what the outbox does (D44).
  const outbox = new Outbox<RequestRecord, SwitchyardEvent, Sample>(
    { items: cfg.maxBuffered, bytes: spool.holdBytes },
    restored.acked,
  );
  for (const b of restored.batches) outbox.restore(b);
  outbox.numberFrom(restored.lastSeq);
  /** The last records line spooled from each interface process (D44). */
  const lines = restored.lines;
  const batcher = new Batcher<RequestRecord>({
    records: cfg.batch.records,
    bytes: cfg.batch.bytes,
    age: cfg.batch.age,
  });
  const recordBytes = (r: RequestRecord) =>
    64 + r.path.length + (r.query?.length ?? 0) + (r.userAgent?.length ?? 0);
  let events: Array<SwitchyardEvent & { at: number }> = [];
  let samples: Array<Omit<Sample, 'startAge' | 'stopAge'> & { start: number; stop: number }> = [];
  let reportedDrops = 0;
  /** Set once /metrics exists (the link and the listener start before it). */
  let countDrops = () => {};
  let countRecords = (_n: number) => {};
  /** Whether the backlog warning was given (again once it fell below a quarter). */
  let backlogSaid = false;

  const event = (source: string, code: string, level: SwitchyardEvent['level'], text: string) => {
    log[level]({ source, code }, text);
    events.push({ source, code, level, text, age: 0, at: clock() });
  };
  /** Turns what is pending into a batch (ages computed now) and sends it when connected. */
  const ship = (records: RequestRecord[]) => {
    const now = clock();
    const body: Body = {
      records,
      events: events.map(({ at, ...e }) => ({ ...e, age: Math.max(0, now - at) })),
      samples: samples.map(({ start, stop, ...s }) => ({
        ...s,
        startAge: Math.max(0, now - start),
        stopAge: Math.max(0, now - stop),
      })),
    };
    events = [];
    samples = [];
    for (const b of delivery.add(body)) spool.batch(b, b.records.length);
    if (spool.due) compact();
    if (!backlogSaid && (outbox.size > cfg.maxBuffered / 2 || outbox.bytes > spool.holdBytes / 2)) {
      backlogSaid = true;
      event(
        opts.name,
        'agent.backlog',
        'warn',
        `${outbox.size} records, events and samples (${outbox.bytes} bytes) wait for the manager's acknowledgement (${link.connected ? 'it stores them slower than this host sends' : 'it is away'}); at ${cfg.maxBuffered} (agents[].maxBuffered) or ${spool.holdBytes} bytes (half of agents[].spoolBytes) the oldest are dropped`,
      );
    } else if (backlogSaid && outbox.size < cfg.maxBuffered / 4 && outbox.bytes < spool.holdBytes / 4)
      backlogSaid = false;
    if (outbox.dropped > reportedDrops) {
      const n = outbox.dropped - reportedDrops;
      reportedDrops = outbox.dropped;
      event(
        opts.name,
        'agent.buffer-overflow',
        'warn',
        `${n} records and events dropped, the oldest: the manager was away too long (the agent holds ${cfg.maxBuffered} items, agents[].maxBuffered, and ${spool.holdBytes} bytes, half of agents[].spoolBytes)`,
      );
    }
  };
  // Sends the outbox in order, a window at a time (ages stay as computed when batched).
  const delivery = new Delivery({
    outbox,
    send: (b) => link.send({ v: PROTOCOL_VERSION, type: 'batch', ...b }),
    buffered: () => link.buffered,
    restored: restored.found,
  });
  /** Rewrites the spool with only what is still held. */
  const compact = () =>
    spool.rewrite({
      batches: outbox.unacked(),
      records: batcher.peek(),
      acked: outbox.acked,
      lastSeq: outbox.lastSeq,
      lines,
    });
  /** Interfaces owed an acknowledgement once the spool's next sync covers their lines. */
  let owed = new Map<InterfaceSession, number>();
  let acking = false;
  const ackOnSync = (s: InterfaceSession, line: number) => {
    owed.set(s, Math.max(owed.get(s) ?? 0, line));
    if (acking) return;
    acking = true;
    const next = () => {
      const these = owed;
      owed = new Map();
      void spool.sync(false).then(() => {
        for (const [session, n] of these) session.spooled(n);
        if (owed.size > 0) next();
        else acking = false;
      });
    };
    next();
  };

  // Records spooled but not yet in a batch go back to the batcher (they are in the file already).
  for (const r of restored.records) {
    const full = batcher.add(r, recordBytes(r), clock());
    if (full) ship(full);
  }
  if (restored.found && (outbox.size > 0 || batcher.length > 0 || restored.invalid > 0))
    (restored.invalid > 0 ? log.warn.bind(log) : log.info.bind(log))(
      { spool: spoolDir, batches: outbox.batches, records: batcher.length, invalid: restored.invalid },
      `agent ${opts.name} took back from its spool ${outbox.size} records, events and samples for the manager and ${batcher.length} records to batch` +
        (restored.invalid > 0 ? `; ${restored.invalid} values in the spool were damaged and dropped` : ''),
    );

  /** Each server's interface processes: several for a server run as a cluster. */
  const sessions = new Map<string, Set<InterfaceSession>>();
  /**
   * What the manager asked of each server's interface, applied again when it reconnects: a
   * redirect only for what is left of its lease, so one the manager stopped renewing (it died,
   * or this agent lost it) is not brought back (D45).
   */
  const redirects = new Map<string, { target: string; until: number }>();
  const rules = new Map<string, { mode: 'stateful' | 'movable' | 'fixed'; pages: string[] }>();
  const masks = new Map<string, number>();
  // The key interfaces prove themselves with (D50), beside the socket; made on first start.
  const keyFile = `${socketPath}.key`;
  let localKey: Buffer;
  try {
    mkdirSync(dirname(socketPath), { recursive: true });
    localKey = ensureLocalKey(keyFile);
  } catch (e) {
    throw new SwitchyardError(
      'SY_ERR_CONFIG',
      `cannot make or read the agent's local key ${keyFile}: ${(e as Error).message}`,
    );
  }
  const listener = new InterfaceListener({
    path: socketPath,
    key: localKey,
    keyFile,
    log,
    onRecords: (s, records, line) => {
      // Records only for this host's servers in the site file (an unknown hello gets no session).
      if (!s || !mine.has(s.server)) {
        if (s && line !== undefined) s.spooled(line); // nothing to keep: not sent again
        return;
      }
      const instance = s.instance;
      if (instance !== undefined && line !== undefined) {
        // A line sent again after this agent (or its predecessor) crashed: spooled already.
        if (line <= (lines.get(instance) ?? 0)) return s && ackOnSync(s, line);
        lines.set(instance, line);
      }
      spool.records(instance, line, records);
      countRecords(records.length);
      const now = clock();
      for (const r of records) {
        watch.onRecord(r);
        const full = batcher.add(r, recordBytes(r), now);
        if (full) ship(full);
      }
      if (s && line !== undefined) ackOnSync(s, line);
    },
    onOverflow: (server, n, reason) =>
      event(
        server,
        'records.overflow',
        'warn',
        `interface of ${server} dropped ${n} records: ${
          reason === 'agent-away'
            ? 'no agent took them (it was away longer than the interface keeps records)'
            : 'the agent did not acknowledge them in time (it reads or syncs its spool too slowly)'
        }`,
      ),
    onHello: (s) => {
      if (!mine.has(s.server)) {
        log.warn(
          { server: s.server },
          `an interface for ${s.server} connected, but that server is not on agent ${opts.name}`,
        );
        return;
      }
      const all = sessions.get(s.server) ?? new Set<InterfaceSession>();
      all.add(s);
      sessions.set(s.server, all);
      if (all.size > 1)
        log.info(
          { server: s.server, pid: s.pid, processes: all.size },
          `${s.server} has ${all.size} processes now (pid ${s.pid} joined): their figures are summed`,
        );
      if (watch.gone.delete(s.server))
        event(s.server, 'interface.back', 'info', `interface of ${s.server} is back`);
      // Rules before the redirect: a stateful page is never moved in the moment between them.
      void s.command({ op: 'set-mask', mask: masks.get(s.server) ?? fields }).catch(() => {});
      const pageRules = rules.get(s.server);
      if (pageRules) void s.command({ op: 'set-rules', ...pageRules }).catch(() => {});
      const r = redirects.get(s.server);
      const left = r ? Math.floor(r.until - clock()) : 0;
      if (r && left > 0) void s.command({ op: 'redirect', target: r.target, lease: left }).catch(() => {});
    },
    onGone: (server, leaving, session) => {
      const all = sessions.get(server);
      if (!all?.delete(session)) return;
      // One process of several left (a worker restarted): the server is still there.
      if (all.size > 0) return;
      sessions.delete(server);
      // Stopping with the rest of the site (switchyard up, a host shutting down): no news.
      if (stopped) return;
      watch.gone.add(server);
      if (leaving)
        event(server, 'interface.stopped', 'info', `interface of ${server} closed: the server stopped`);
      else
        event(server, 'interface.gone', 'error', `interface of ${server} disconnected: the server stopped`);
    },
  });
  const watch = new ServerWatch({
    site,
    servers: cfg.servers,
    probeInterval: cfg.probeInterval,
    clock,
    log,
    event,
  });

  const execute = async (c: Command): Promise<{ ok: boolean; data?: unknown; error?: string }> => {
    if (c.op === 'echo') return { ok: true, data: c.text };
    if (!mine.has(c.server)) return { ok: false, error: `server ${c.server} is not on agent ${opts.name}` };
    if (c.op === 'redirect') redirects.set(c.server, { target: c.target, until: clock() + c.lease });
    if (c.op === 'cancel-redirect') redirects.delete(c.server);
    if (c.op === 'set-rules') rules.set(c.server, { mode: c.mode, pages: c.pages });
    if (c.op === 'set-mask') masks.set(c.server, c.mask);
    const all = [...(sessions.get(c.server) ?? [])];
    const s = all[0];
    // Kept above and given to the interface when it connects: not a failure.
    if (
      !s &&
      (c.op === 'redirect' || c.op === 'cancel-redirect' || c.op === 'set-rules' || c.op === 'set-mask')
    )
      return { ok: true, data: `kept for ${c.server}'s interface, which is not connected` };
    if (!s) return { ok: false, error: `no interface of ${c.server} is connected` };
    if (c.op === 'pid') return { ok: true, data: s.pid };
    // A sidecar runs its web server and starts or stops it; stopping waits for the process.
    if (c.op === 'start' || c.op === 'stop')
      return s.command({ op: c.op === 'start' ? 'start-server' : 'stop-server' }, 15_000);
    // Every process of the server is told the same (redirect, rules, mask, ...).
    const { server: _, ...local } = c;
    const answers = await Promise.all(
      all.map((x) =>
        x.command(local as Parameters<InterfaceSession['command']>[0]).catch((e: Error) => ({
          ok: false,
          error: e.message,
        })),
      ),
    );
    return answers.find((a) => !a.ok) ?? answers[0]!;
  };

  const link = new LinkClient({
    url,
    role: 'agent',
    id: opts.name,
    key,
    ca,
    log,
    heartbeat: m.heartbeat,
    onWelcome: ({ stored }) => {
      link.send({ v: PROTOCOL_VERSION, type: 'facts', host: hostFacts() });
      const numbers = outbox.unacked().map((b) => b.seq);
      delivery.welcome(stored);
      // Renumbered to follow the manager (Outbox.rebase): the spool must say the same.
      if (outbox.unacked().some((b, i) => b.seq !== numbers[i]) || stored > restored.lastSeq) compact();
      else spool.ack(outbox.acked);
    },
    onDown: () => {
      delivery.down();
      countDrops();
    },
    onMessage: (msg: Message) => {
      if (msg.type === 'ack') {
        const before = outbox.acked;
        delivery.ack(msg.seq, msg.resend === true);
        if (outbox.acked > before) spool.ack(outbox.acked);
      } else if (msg.type === 'command')
        void execute(msg.command)
          .catch((e: Error) => ({ ok: false, error: e.message }))
          .then((r) => link.send({ v: PROTOCOL_VERSION, type: 'result', id: msg.id, ...r }));
      else log.warn({ type: msg.type }, `unexpected message "${msg.type}" from the manager ignored`);
    },
  });

  // The fast path: each server's figures straight from its interface, every report interval
  // or faster for fast servers (core/report-interval.ts: half the fastest one's service time).
  let perf: HostPerf | undefined;
  let figuresBusy = false;
  const followed = new Map<string, number>();
  const sendFigures = async () => {
    // A backed-up link keeps no old figures: this round is skipped, the next one is newer.
    if (figuresBusy || !link.connected || link.buffered > 256 * 1024) return;
    figuresBusy = true;
    try {
      const servers = await Promise.all(
        cfg.servers.map(async (server) => {
          const all = [...(sessions.get(server) ?? [])];
          const down = watch.downReason(server);
          const asked = clock();
          // A server run as several processes is one server: their figures summed.
          const got = (
            await Promise.all(
              all.map((x) => x.figures(Math.max(100, m.reportInterval)).catch(() => undefined)),
            )
          ).filter((x) => x !== undefined);
          const f = got.length > 0 ? { figures: combineFigures(got.map((x) => x.figures)) } : undefined;
          if (f)
            followed.set(
              server,
              followService(followed.get(server) ?? 0, f.figures.serviceTime, f.figures.requests),
            );
          if (!f && down === undefined) return undefined;
          return {
            server,
            ...(f ? { figures: f.figures } : {}),
            age: Math.max(0, Math.round((clock() - asked) / 2)),
            ...(down !== undefined ? { down } : {}),
          };
        }),
      );
      link.send({
        v: PROTOCOL_VERSION,
        type: 'figures',
        servers: servers.filter((x) => x !== undefined),
        ...(perf?.cpu !== undefined ? { cpu: perf.cpu } : {}),
        ...(perf ? { memory: Math.min(1, Math.max(0, perf.memory)) } : {}),
      });
    } finally {
      figuresBusy = false;
    }
  };
  let fast: NodeJS.Timeout | undefined;
  let stopped = false;
  /** The report interval last logged: said when it halves or doubles, not each time it moves. */
  let saidEvery = m.reportInterval;
  let every = m.reportInterval;
  const tickFigures = () => {
    if (stopped) return;
    void sendFigures();
    every = reportEvery(m.reportInterval, [...followed.values()]);
    if (every <= saidEvery / 2 || every >= saidEvery * 2) {
      saidEvery = every;
      log.info(
        { reportEveryMs: Math.round(every) },
        `agent ${opts.name} reports every ${Math.round(every)} ms now (half its fastest server's service time, ${m.reportInterval} ms at most)`,
      );
    }
    fast = setTimeout(tickFigures, every);
  };
  fast = setTimeout(tickFigures, m.reportInterval);

  // The slow path: host performance as samples, and batches that are due.
  let last: Snapshot = snapshot(clock());
  const sampleHost = () => {
    const next = snapshot(clock());
    perf = rates(last, next);
    for (const [metric, value] of Object.entries(perf)) {
      if (typeof value === 'number' && Number.isFinite(value))
        samples.push({
          component: opts.name,
          metric: `host.${metric.toLowerCase()}`,
          start: last.at,
          stop: next.at,
          value,
        });
    }
    last = next;
  };
  const perfTimer = setInterval(sampleHost, cfg.perfInterval);
  let syncFailuresSaid = 0;
  const slow = setInterval(
    () => {
      // A spool that cannot sync acknowledges nothing to the interfaces: said, in words.
      if (spool.syncFailures > syncFailuresSaid) {
        if (syncFailuresSaid === 0)
          event(
            opts.name,
            'agent.spool-failing',
            'error',
            `the spool in ${spoolDir} cannot be synced to disk (${spool.lastSyncError}): the interfaces keep their records until it can`,
          );
        syncFailuresSaid = spool.syncFailures;
      }
      for (const s of watch.drainSamples()) samples.push(s);
      const due = batcher.due(clock());
      if (due || events.length > 0 || samples.length >= 100) ship(due ?? []);
      else delivery.pump(); // the socket may have drained since the last batch
    },
    Math.min(1000, cfg.batch.age),
  );
  watch.start();

  await listener.start().catch((e: Error) => {
    stopped = true;
    clearTimeout(fast);
    clearInterval(perfTimer);
    clearInterval(slow);
    watch.stop();
    throw new SwitchyardError('SY_ERR_CONFIG', `cannot listen on the socket ${socketPath}: ${e.message}`);
  });
  // /metrics and /healthz (issue 29): what the agent holds, drops and refuses, and its link.
  const metrics = createAgentMetrics({
    connected: () => link.connected,
    waiting: () => outbox.size,
    batching: () => batcher.length,
    spoolBytes: () => spool.size,
    dropped: () => outbox.dropped,
    resent: () => delivery.resent,
    interfaces: () => [...sessions.values()].reduce((n, all) => n + all.size, 0),
    invalid: () => listener.invalid,
    refusedHellos: () => listener.refusedHellos,
    reportEvery: () => every,
  });
  countDrops = () => metrics.redials.inc();
  countRecords = (n) => metrics.records.inc(n);
  const http = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(link.connected ? 'ok\n' : 'ok (the manager is not connected; records wait in the spool)\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: /metrics and /healthz only\n');
  });
  const where = parseHostPort(cfg.metrics);
  try {
    await listenOn(http, where?.host ?? '127.0.0.1', where?.port ?? 0);
  } catch (e) {
    stopped = true;
    clearTimeout(fast);
    clearInterval(perfTimer);
    clearInterval(slow);
    watch.stop();
    await listener.close();
    throw new SwitchyardError(
      'SY_ERR_CONFIG',
      `cannot listen for /metrics on ${cfg.metrics} (agents[].metrics): ${(e as Error).message}`,
    );
  }
  const metricsUrl = `http://${boundAddress(http)}`;
  link.start();
  log.info(
    { socket: socketPath, manager: url, servers: cfg.servers, metrics: metricsUrl },
    `agent ${opts.name} listening on ${socketPath} for ${cfg.servers.length} server(s); reporting to ${url}; metrics at ${metricsUrl}/metrics`,
  );

  let closing: Promise<void> | undefined;
  return {
    socket: socketPath,
    metricsUrl,
    get connected() {
      return link.connected;
    },
    get buffered() {
      return outbox.size + batcher.length;
    },
    get dropped() {
      return outbox.dropped;
    },
    close() {
      closing ??= (async () => {
        stopped = true;
        clearTimeout(fast);
        clearInterval(perfTimer);
        clearInterval(slow);
        watch.stop();
        // What is batched goes out now; what the manager has not acknowledged stays in the
        // spool for the next start (the interfaces keep serving either way).
        ship(batcher.flush());
        // Give the manager a moment to acknowledge the last batches.
        const until = Date.now() + 1000;
        while (link.connected && outbox.size > 0 && Date.now() < until)
          await new Promise((r) => setTimeout(r, 20));
        await listener.close();
        await link.close();
        http.close();
        http.closeAllConnections();
        compact();
        spool.close();
        log.info(
          { kept: outbox.size, spool: spoolDir },
          outbox.size > 0
            ? `agent stopped; ${outbox.size} records, events and samples kept in ${spoolDir} for the next start`
            : 'agent stopped; the manager has everything',
        );
      })();
      return closing;
    },
  };
}
