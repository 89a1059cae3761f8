import { dirname, resolve as resolvePath } from 'node:path';
import { loadSite } from '../config/load.js';
import { managerLinkUrl } from '../config/monitoring-schema.js';
import { componentSecret } from '../config/secret-file.js';
import type { Clock } from '../core/random.js';
import { followService, reportEvery } from '../core/report-interval.js';
import { SwitchyardError } from '../errors.js';
import { LinkClient } from '../link/link-client.js';
import { Outbox } from '../link/outbox.js';
import { createLogger, type Logger } from '../log/logger.js';
import { fieldMask } from '../protocol/local-record.js';
import type { Command, Message, RequestRecord, Sample, SwitchyardEvent } from '../protocol/messages.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { Batcher } from './batcher.js';
import { hostFacts } from './host-facts.js';
import { type HostPerf, rates, type Snapshot, snapshot } from './host-perf.js';
import { InterfaceListener, type InterfaceSession } from './interface-listener.js';
import { ServerWatch } from './server-watch.js';

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
  log?: Logger;
  clock?: Clock;
}

export interface Agent {
  socket: string;
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
  const secret = componentSecret(opts.configFile, m.secretFile);
  const socketPath = resolvePath(dirname(resolvePath(opts.configFile)), cfg.socket);
  const url = opts.managerUrl ?? managerLinkUrl(m);
  const mine = new Set(cfg.servers);
  /** The record fields the site file asks of every interface on the host (agents[].fields). */
  const fields = fieldMask(cfg.fields);
  if (!cfg.fields.includes('query') && cfg.probeInterval > 0)
    log.warn(
      `agent ${opts.name}: records leave out the query (agents[].fields), so probes give each server's response time only, not its queue delay`,
    );

  const outbox = new Outbox<RequestRecord, SwitchyardEvent, Sample>(cfg.maxBuffered);
  const batcher = new Batcher<RequestRecord>({
    records: cfg.batch.records,
    bytes: cfg.batch.bytes,
    age: cfg.batch.age,
  });
  let events: Array<SwitchyardEvent & { at: number }> = [];
  let samples: Array<Omit<Sample, 'startAge' | 'stopAge'> & { start: number; stop: number }> = [];
  let welcomed = false;
  let reportedDrops = 0;

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
    const b = outbox.add(body);
    if (b && welcomed) link.send({ v: PROTOCOL_VERSION, type: 'batch', ...b });
    if (outbox.dropped > reportedDrops) {
      const n = outbox.dropped - reportedDrops;
      reportedDrops = outbox.dropped;
      event(
        opts.name,
        'agent.buffer-overflow',
        'warn',
        `${n} records and events dropped: the manager was away too long`,
      );
    }
  };
  /** Sends every unacknowledged batch, oldest first (ages stay as computed when batched). */
  const replay = () => {
    for (const b of outbox.unacked()) if (!link.send({ v: PROTOCOL_VERSION, type: 'batch', ...b })) return;
  };

  const sessions = new Map<string, InterfaceSession>();
  /** What the manager asked of each server's interface, applied again when it reconnects. */
  const redirects = new Map<string, string>();
  const masks = new Map<string, number>();
  const listener = new InterfaceListener({
    path: socketPath,
    log,
    onRecord: (r) => {
      watch.onRecord(r);
      const full = batcher.add(
        r,
        64 + r.path.length + (r.query?.length ?? 0) + (r.userAgent?.length ?? 0),
        clock(),
      );
      if (full) ship(full);
    },
    onOverflow: (server, n) =>
      event(
        server,
        'records.overflow',
        'warn',
        `interface of ${server} dropped ${n} records: the agent read too slowly`,
      ),
    onHello: (s) => {
      if (!mine.has(s.server)) {
        log.warn(
          { server: s.server },
          `an interface for ${s.server} connected, but that server is not on agent ${opts.name}`,
        );
        return;
      }
      sessions.set(s.server, s);
      if (watch.gone.delete(s.server))
        event(s.server, 'interface.back', 'info', `interface of ${s.server} is back`);
      void s.command({ op: 'set-mask', mask: masks.get(s.server) ?? fields }).catch(() => {});
      const target = redirects.get(s.server);
      if (target) void s.command({ op: 'redirect', target }).catch(() => {});
    },
    onGone: (server) => {
      if (!sessions.has(server)) return;
      sessions.delete(server);
      watch.gone.add(server);
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
    if (c.op === 'redirect') redirects.set(c.server, c.target);
    if (c.op === 'cancel-redirect') redirects.delete(c.server);
    if (c.op === 'set-mask') masks.set(c.server, c.mask);
    const s = sessions.get(c.server);
    if (!s) return { ok: false, error: `no interface of ${c.server} is connected` };
    if (c.op === 'pid') return { ok: true, data: s.pid };
    // A sidecar runs its web server and starts or stops it; stopping waits for the process.
    if (c.op === 'start' || c.op === 'stop')
      return s.command({ op: c.op === 'start' ? 'start-server' : 'stop-server' }, 15_000);
    const { server: _, ...local } = c;
    return s.command(local as Parameters<InterfaceSession['command']>[0]);
  };

  const link = new LinkClient({
    url,
    role: 'agent',
    id: opts.name,
    secret,
    log,
    heartbeat: m.heartbeat,
    onWelcome: ({ stored }) => {
      if (!welcomed) outbox.rebase(stored);
      else outbox.ack(stored);
      welcomed = true;
      link.send({ v: PROTOCOL_VERSION, type: 'facts', host: hostFacts() });
      replay();
    },
    onMessage: (msg: Message) => {
      if (msg.type === 'ack') outbox.ack(msg.seq);
      else if (msg.type === 'command')
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
    if (figuresBusy || !link.connected) return;
    figuresBusy = true;
    try {
      const servers = await Promise.all(
        cfg.servers.map(async (server) => {
          const s = sessions.get(server);
          const down = watch.downReason(server);
          const asked = clock();
          const f = s ? await s.figures(Math.max(100, m.reportInterval)).catch(() => undefined) : undefined;
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
  const tickFigures = () => {
    if (stopped) return;
    void sendFigures();
    fast = setTimeout(tickFigures, reportEvery(m.reportInterval, [...followed.values()]));
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
  const slow = setInterval(
    () => {
      for (const s of watch.drainSamples()) samples.push(s);
      const due = batcher.due(clock());
      if (due || events.length > 0 || samples.length >= 100) ship(due ?? []);
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
  link.start();
  log.info(
    { socket: socketPath, manager: url, servers: cfg.servers },
    `agent ${opts.name} listening on ${socketPath} for ${cfg.servers.length} server(s); reporting to ${url}`,
  );

  let closing: Promise<void> | undefined;
  return {
    socket: socketPath,
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
        // What is batched goes out now; what the manager has not acknowledged is lost with
        // the process (the interfaces keep serving either way).
        ship(batcher.flush());
        // Give the manager a moment to acknowledge the last batches.
        const until = Date.now() + 1000;
        while (link.connected && outbox.size > 0 && Date.now() < until)
          await new Promise((r) => setTimeout(r, 20));
        await listener.close();
        await link.close();
        log.info({ unacknowledged: outbox.size }, 'agent stopped');
      })();
      return closing;
    },
  };
}
