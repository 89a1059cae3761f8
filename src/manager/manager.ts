import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import {
  decodePart,
  notFound,
  type OverrideRequest,
  overrideRoute,
  sendJson,
  wrongToken,
} from '../admin-http.js';
import { ensureToken, tokenMatches } from '../config/admin-token.js';
import { loadSite } from '../config/load.js';
import { managerLinkUrl, managerSpeaksTls } from '../config/monitoring-schema.js';
import { parseHostPort } from '../config/schema.js';
import { ensureKeys } from '../config/secret-file.js';
import { ensureManagerTls } from '../config/tls-files.js';
import {
  applyOverride,
  type OverrideOrigin,
  resetOverride,
  type VersionedOverride,
} from '../core/override-versions.js';
import { serverPageRules } from '../core/page-rules.js';
import type { Clock } from '../core/random.js';
import type { Readings } from '../core/thresholds.js';
import { SwitchyardError } from '../errors.js';
import { type LinkServer, type ServerLink, startLinkServer } from '../link/link-server.js';
import { boundAddress, listenOn } from '../listen.js';
import { createLogger, type Logger } from '../log/logger.js';
import { type Role, verifyMac } from '../protocol/handshake.js';
import type { Message, MessageOf, OverrideChange, ServerLoad } from '../protocol/messages.js';
import { OPERATOR_PROOF_SKEW, operatorProof } from '../protocol/operator-proof.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { boardParams, LoadBoard, tickInterval } from './load-board.js';
import { createManagerMetrics } from './metrics.js';
import type { StoredOverrides } from './store/sqlite-store.js';
import { StoreClient, type StoreHealth } from './store/store-client.js';

/**
 * The manager (document 002 section V): every component dials in here. It stores what
 * agents send (records, samples, events, host facts) through the store's thread, turns the
 * agents' queue figures into load values and levels every report interval (load-board.ts),
 * pushes them to every interceptor, tells the agent of an overloaded server to redirect
 * stateless users away, and keeps the operator's overrides, the same for every interceptor.
 *
 * @example
 * const m = await startManager({ configFile: 'site.yaml' });
 * console.log(m.linkUrl); // ws://127.0.0.1:7070/link
 * await m.close();
 */

export interface ManagerOptions {
  configFile: string;
  /** Overrides manager.dataDir (e.g. `switchyard up --data-dir`). */
  dataDir?: string;
  /** Overrides manager.listen (tests use port 0). */
  listen?: string;
  log?: Logger;
  clock?: Clock;
}

export interface Manager {
  /** http://host:port of /metrics and /healthz. */
  url: string;
  linkUrl: string;
  close(): Promise<void>;
}

const LEVEL_RANK = { normal: 0, heavy: 1, max: 2 } as const;

/** Bytes unsent on a link above which the loads it would be sent are skipped. */
const MAX_LINK_BACKLOG = 256 * 1024;

/** A store write unanswered this long makes /healthz say so, ms. */
const STORE_STUCK_MS = 2000;

/** Where an operator gives a component its name, for the duplicate-name event. */
const NAME_HINT: Partial<Record<Role, string>> = {
  agent: ' (agent --name)',
  interceptor: ' (interceptor --name, or leave interceptor.name out of a shared site file)',
};

export async function startManager(opts: ManagerOptions): Promise<Manager> {
  const log = opts.log ?? createLogger('manager');
  const clock = opts.clock ?? (() => performance.now());
  const loaded = loadSite(opts.configFile);
  const { site } = loaded;
  const m = site.manager;
  if (!m)
    throw new SwitchyardError(
      'SY_ERR_CONFIG',
      `${opts.configFile}: no "manager" section; the manager needs one`,
    );
  const listen = parseHostPort(opts.listen ?? m.listen);
  if (!listen)
    throw new SwitchyardError('SY_ERR_CONFIG', `cannot listen on "${opts.listen}": expected host:port`);
  // One key per job (D52): the manager makes any that are missing (the mark key too, which it
  // never uses, so that the site's one first start makes them all) and checks two of them.
  const keys = ensureKeys(opts.configFile, m.keys);
  // TLS whenever links can leave the machine (D53): the links and the admin routes alike.
  const tls = managerSpeaksTls(m, opts.listen ?? m.listen)
    ? await ensureManagerTls(opts.configFile, m, opts.listen ?? m.listen)
    : undefined;
  // One admin token for the site's operator endpoints: ctl uses the same for both (D25).
  const { token: adminToken, source: tokenSource } = ensureToken(
    opts.configFile,
    site.interceptor.adminTokenFile,
  );
  const dataDir = resolve(opts.dataDir ?? resolve(dirname(resolve(opts.configFile)), m.dataDir));
  const dbFile = join(dataDir, 'switchyard.db');
  const metrics = createManagerMetrics();
  /** Store thread restarts counted on /metrics so far. */
  let restartsCounted = 0;
  const countRestarts = (h: StoreHealth) => {
    if (h.restarts > restartsCounted) metrics.storeRestarts.inc(h.restarts - restartsCounted);
    restartsCounted = h.restarts;
  };
  /** Set once close() begins. */
  let stopping = false;
  const store = await StoreClient.open(dbFile, {
    onHealth: (h) => {
      countRestarts(h);
      metrics.storeUp.set(h.state === 'ok' ? 1 : h.state === 'failing' ? 0 : -1);
      if (h.state === 'ok') log.info({ store: dbFile }, `the store at ${dbFile} takes writes again`);
      else
        log.error(
          { store: dbFile, state: h.state, err: h.error },
          `the store at ${dbFile} is ${h.state === 'down' ? 'down (its thread stopped; starting it again)' : 'failing'}: ${h.error ?? 'unknown error'}; batches wait in the agents' outboxes until it takes writes`,
        );
    },
  }).catch((e: Error) => {
    throw new SwitchyardError('SY_ERR_CONFIG', e.message);
  });
  metrics.storeUp.set(1);
  // A real write at start: a read-only file, a full disk or a held lock is said now, in one
  // line (by onHealth above), not found later as batches that never get stored.
  await store.probeWrite(Date.now()).catch(() => {});
  const seqs = await store.storedSeqs();
  let overrides: StoredOverrides = await store.overrides();
  const started = clock();

  // Which agent a server is on, from the site file: figures for any other server are refused.
  const agentOf = new Map<string, string>();
  for (const a of site.agents) for (const s of a.servers) agentOf.set(s, a.name);
  const board = new LoadBoard(
    site.servers.map((s) => ({ name: s.name, thresholds: s.thresholds ?? m.thresholds })),
    site.applications.map((a) => ({ name: a.name, servers: a.servers })),
    boardParams(m),
    clock(),
  );
  const first = Array.isArray(site.interceptor.listen)
    ? site.interceptor.listen[0]!
    : site.interceptor.listen;
  const firstAddr = typeof first === 'string' ? first : first.address;
  const redirectTarget =
    m.redirectTarget ?? `${typeof first !== 'string' && first.tls ? 'https' : 'http'}://${firstAddr}`;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      const h = store.health();
      metrics.storeQueued.set(h.queued);
      // A thread started again counts at once, whether its first write then succeeds or fails.
      countRestarts(h);
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
      // Balancing goes on without a store, but what agents send is not kept: not healthy.
      const h = store.health();
      // A write waiting this long is a lock held elsewhere or a stalled disk: said before it fails.
      const stuck = h.state === 'ok' && h.waitingMs > STORE_STUCK_MS;
      res.writeHead(h.state === 'ok' && !stuck ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(
        stuck
          ? `store stuck: a write has waited ${h.waitingMs} ms (the database is locked or its disk is slow)\n`
          : h.state === 'ok'
            ? 'ok\n'
            : `store ${h.state}: ${h.error ?? 'unknown error'}\n`,
      );
      return;
    }

    void admin(req, res).catch((e: unknown) => {
      if (e instanceof SwitchyardError) {
        metrics.adminRequests.labels(String(e.status)).inc();
        return sendJson(res, e.status, { error: { code: e.code, message: e.message } });
      }
      log.error({ err: e }, 'admin request failed');
      metrics.adminRequests.labels('500').inc();
      sendJson(res, 500, {
        error: { code: 'SY_ERR_INTERNAL', message: 'internal error; see the manager log' },
      });
    });
  };
  const http = tls ? createTlsServer({ cert: tls.cert, key: tls.key }, handle) : createServer(handle);

  /**
   * The manager's admin routes, for `switchyard ctl` (D25): the operator overrides (the same
   * routes as an interceptor's admin endpoint) and what the manager knows. Every route needs
   * the site's admin token.
   *   GET  /overrides   GET /status
   *   POST /servers/NAME/enable|disable   PUT /servers/NAME/capacity   {"capacity": 1..10}
   *   POST /applications/NAME/enable|disable   PUT /applications/NAME/sorry   {"html": "..."}
   *   POST /reset
   *   POST /servers/NAME/start|stop   (the web server process, through its agent and sidecar)
   */
  const admin = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    if (!tokenMatches(req.headers.authorization, adminToken)) {
      log.warn({ remote: req.socket.remoteAddress, path }, 'admin request refused: missing or wrong token');
      throw wrongToken(tokenSource);
    }
    const ok = (body: unknown) => {
      metrics.adminRequests.labels('200').inc();
      sendJson(res, 200, body);
    };
    if (req.method === 'GET' && path === '/overrides') return ok(overridesMessage());
    if (req.method === 'GET' && path === '/status') return ok(statusView());
    const serverProcess = /^\/servers\/([^/]+)\/(start|stop)$/.exec(path);
    if (req.method === 'POST' && serverProcess)
      return ok(await startStop(decodePart(serverProcess[1]!), serverProcess[2] as 'start' | 'stop'));
    const o = await overrideRoute(req);
    if (!o) throw notFound(`${req.method} ${path}`);
    const error = await changeOverride(`ctl at ${req.socket.remoteAddress ?? 'an unknown address'}`, o);
    if (error) throw new SwitchyardError('SY_ERR_NOT_FOUND', error);
    ok({ ok: true });
  };

  /**
   * Asks a server's agent to start or stop its web server (a sidecar that runs it does) and
   * waits for the answer: ctl should say whether it happened, not that it was asked.
   */
  const startStop = (server: string, op: 'start' | 'stop') =>
    new Promise<{ ok: true; data?: unknown }>((resolve, reject) => {
      const agentName = agentOf.get(server);
      if (!agentName)
        return reject(
          new SwitchyardError(
            'SY_ERR_NOT_FOUND',
            `no server named "${server}" on any agent in the site file`,
          ),
        );
      const link = agents.get(agentName);
      if (!link)
        return reject(
          new SwitchyardError('SY_ERR_UNREACHABLE', `agent ${agentName} of ${server} is not connected`),
        );
      const id = nextCommand++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(
          new SwitchyardError(
            'SY_ERR_TIMEOUT',
            `agent ${agentName} did not answer "${op}" for ${server} within 20 s`,
          ),
        );
      }, 20_000);
      pending.set(id, {
        server,
        op,
        answer: (r) => {
          clearTimeout(timer);
          if (r.ok) resolve({ ok: true, data: r.data });
          else reject(new SwitchyardError('SY_ERR_BAD_REQUEST', `${op} ${server}: ${r.error ?? 'failed'}`));
        },
      });
      if (!link.send({ v: PROTOCOL_VERSION, type: 'command', id, command: { op, server } })) {
        clearTimeout(timer);
        pending.delete(id);
        reject(new SwitchyardError('SY_ERR_UNREACHABLE', `agent ${agentName} of ${server} is not connected`));
        return;
      }
      event(
        server,
        `server.${op}`,
        'info',
        `${op} of ${server}'s web server asked by ctl, through agent ${agentName}`,
      );
    });

  /** Each interceptor's admission queues as it last sent them; dropped when its link goes. */
  const gateways = new Map<string, { at: number; applications: MessageOf<'gateway'>['applications'] }>();

  const statusView = (): ManagerStatusView => {
    const now = clock();
    const { servers } = board.loads(now);
    return {
      manager: { uptimeMs: Math.round(now - started), store: dbFile, storeHealth: store.health() },
      agents: site.agents.map((a) => ({ name: a.name, connected: agents.has(a.name), servers: a.servers })),
      interceptors: [...interceptors].map((l) => l.id),
      gateways: [...gateways].map(([interceptor, g]) => ({
        interceptor,
        ageMs: Math.round(now - g.at),
        applications: g.applications,
      })),
      servers,
      overrides: {
        applications: withOrigins(overrides.applications),
        servers: withOrigins(overrides.servers),
      },
    };
  };

  const agents = new Map<string, ServerLink>();
  const interceptors = new Set<ServerLink>();
  /** What each server's interface was last told: its redirect target, or undefined. */
  const told = new Map<string, string | undefined>();
  /** When each standing redirect was last sent (renewed), manager clock ms. */
  const renewedAt = new Map<string, number>();
  const pending = new Map<
    number,
    { server: string; op: string; answer?: (r: { ok: boolean; data?: unknown; error?: string }) => void }
  >();
  let nextCommand = 1;

  const event = (source: string, code: string, level: 'info' | 'warn' | 'error', text: string) => {
    metrics.events.labels(code).inc();
    log[level]({ source, code }, text);
    // Links closing as the manager stops raise events after the store is closed: logged only.
    if (stopping) return;
    store.event(source, code, level, text, Date.now()).catch((e: Error) => {
      log.error({ err: e.message }, `could not store an event: ${e.message}`);
    });
  };
  const refuse = (link: ServerLink, reason: string) => {
    metrics.refused.labels('invalid').inc();
    log.warn(
      { role: link.role, id: link.id, reason },
      `message from ${link.role} ${link.id} refused: ${reason}`,
    );
  };
  /** The overrides as interceptors take them: values, and where and how long ago each was set. */
  const overridesMessage = (): Message => {
    const now = Date.now();
    return {
      v: PROTOCOL_VERSION,
      type: 'overrides',
      applications: valuesOnly(overrides.applications),
      servers: valuesOnly(overrides.servers),
      origins: {
        applications: originAges(overrides.applications, now),
        servers: originAges(overrides.servers, now),
      },
    };
  };
  const pushOverrides = () => {
    const msg = overridesMessage();
    for (const l of interceptors) l.send(msg);
  };

  /**
   * Senders whose batch could not be stored (it failed, or came before the one it follows):
   * they were asked to send again, and until the batch that follows what is stored comes,
   * the rest of their window is dropped without a word (each would ask again).
   */
  const awaiting = new WeakSet<ServerLink>();
  const askAgain = (link: ServerLink, stored: number) => {
    if (awaiting.has(link)) return;
    awaiting.add(link);
    link.send({ v: PROTOCOL_VERSION, type: 'ack', seq: stored, resend: true });
  };
  const onBatch = (link: ServerLink, got: MessageOf<'batch'>) => {
    const t0 = performance.now();
    const key = `${link.role}/${link.id}`;
    // Records only for servers that are on this agent in the site file (issue 29).
    let b = got;
    if (got.records.some((r) => agentOf.get(r.server) !== link.id)) {
      const kept = got.records.filter((r) => agentOf.get(r.server) === link.id);
      refuse(
        link,
        `${got.records.length - kept.length} records for servers not on ${link.role} ${link.id} in the site file (e.g. "${got.records.find((r) => agentOf.get(r.server) !== link.id)!.server.slice(0, 64)}")`,
      );
      b = { ...got, records: kept };
    }
    store.ingest(link.role, link.id, b.seq, b, Date.now()).then(
      (r) => {
        seqs.set(key, r.stored);
        if (r.outOfOrder) {
          metrics.batches.labels('out-of-order').inc();
          return askAgain(link, r.stored);
        }
        metrics.batches.labels(r.duplicate ? 'duplicate' : 'stored').inc();
        if (!r.duplicate) {
          awaiting.delete(link);
          metrics.stored.labels('records').inc(b.records.length);
          metrics.stored.labels('events').inc(b.events.length);
          metrics.stored.labels('samples').inc(b.samples.length);
          if (b.prev !== undefined && b.seq - 1 > b.prev) metrics.lost.inc(b.lost ?? 0);
        }
        metrics.ingestSeconds.observe((performance.now() - t0) / 1000);
        link.send({ v: PROTOCOL_VERSION, type: 'ack', seq: r.stored });
      },
      (e: Error) => {
        // Never acknowledged past: the sender sends it again when asked, after a pause.
        metrics.batches.labels('failed').inc();
        log.error(
          { role: link.role, id: link.id, seq: b.seq, err: e.message },
          `could not store batch ${b.seq} of ${link.role} ${link.id}: ${e.message}; it will be sent again`,
        );
        awaiting.delete(link);
        askAgain(link, seqs.get(key) ?? 0);
      },
    );
  };

  /**
   * Servers whose new figures are not passed on yet. Figures that come in during one turn of
   * the event loop (from any number of agents) go to the interceptors in one load message as
   * soon as the messages read with them are handled (setImmediate), not one message each:
   * one write and one read for many agents' figures (issue 29: 100 agents reporting every
   * 10 ms made 10,000 writes a second to every interceptor).
   */
  let unpushed = new Set<string>();
  let pushQueued = false;
  const pushFresh = () => {
    pushQueued = false;
    const fresh = unpushed;
    unpushed = new Set();
    if (stopping || fresh.size === 0) return;
    pushLoads(board.loads(clock(), fresh));
  };

  const onFigures = (link: ServerLink, f: MessageOf<'figures'>) => {
    const now = clock();
    const fresh = unpushed;
    // Key by key rather than spread: V8 copies spread objects slowly, and this runs for
    // every figures message.
    const host: Readings = {};
    if (f.cpu !== undefined) host.cpu = f.cpu;
    if (f.memory !== undefined) host.memory = f.memory;
    for (const s of f.servers) {
      if (agentOf.get(s.server) !== link.id) {
        refuse(link, `figures for server "${s.server}", which is not on agent ${link.id} in the site file`);
        continue;
      }
      metrics.figures.inc();
      metrics.figuresAge.observe(s.age / 1000);
      if (s.figures) board.report(s.server, s.figures, now - s.age, host, now);
      board.setFailed(s.server, s.down === undefined ? undefined : `agent ${link.id}: ${s.down}`, now);
      fresh.add(s.server);
    }
    // Passed on at once rather than on the next tick: the figures' age is what a redirecting
    // door's choice loses most to (the lab's simulator, D28).
    if (fresh.size > 0 && !pushQueued) {
      pushQueued = true;
      setImmediate(pushFresh);
    }
  };

  /** Sends load values to every interceptor. */
  const pushLoads = (loads: { servers: ServerLoad[]; swamped: string[] }) => {
    const msg: Message = {
      v: PROTOCOL_VERSION,
      type: 'load',
      ...loads,
      doors: Math.max(1, interceptors.size),
    };
    // A backed-up interceptor keeps no old loads: it gets the next, newer one (D43).
    for (const l of interceptors) if (l.buffered < MAX_LINK_BACKLOG) l.send(msg);
  };

  let overrideChain: Promise<unknown> = Promise.resolve();
  /**
   * Stores one operator change and pushes the new set to every interceptor; gives the reason
   * when the change names nothing in the site file. Changes run one at a time: each reads the
   * current override and writes it back, so two at once would lose one (an operator's
   * disable silently undone).
   */
  const changeOverride = (who: string, o: OverrideRequest, at = Date.now()): Promise<string | undefined> => {
    const run = async () => {
      const origin = { at, by: who };
      let stale: string[] = [];
      if (o.target === 'all') {
        if (overrides.reset && overrides.reset.at > at) stale = ['reset'];
        else {
          // What was set after this reset (a reset that reached the manager late) stands.
          const survivors: Array<['application' | 'server', string, VersionedOverride]> = [];
          for (const [kind, map] of [
            ['application', overrides.applications],
            ['server', overrides.servers],
          ] as const)
            for (const [name, v] of Object.entries(map)) {
              const left = resetOverride(versioned(v), origin);
              if (Object.keys(left.values).length > 0) survivors.push([kind, name, left]);
            }
          await store.resetOverrides();
          for (const [kind, name, v] of survivors) await store.setOverride(kind, name, unversioned(v));
          await store.setOverride('site', 'reset', { ...origin });
        }
      } else {
        const known =
          o.target === 'server'
            ? site.servers.some((s) => s.name === o.name)
            : site.applications.some((a) => a.name === o.name);
        if (!known) return `no ${o.target} named "${o.name}" in the site file`;
        const kind = o.target === 'server' ? 'servers' : 'applications';
        const current = versioned((overrides[kind] as Record<string, StoredValue>)[o.name] ?? {});
        const r = applyOverride(
          current,
          {
            ...(o.reset ? { reset: true } : {}),
            fields: {
              enabled: o.enabled,
              ...(o.target === 'server' ? { capacity: o.capacity } : { sorryPage: o.sorryPage }),
            },
          },
          origin,
          overrides.reset,
        );
        stale = r.stale;
        if (r.applied.length > 0) await store.setOverride(o.target, o.name, unversioned(r));
      }
      overrides = await store.overrides();
      const source = o.target === 'all' ? 'site' : o.name;
      const ago = Math.max(0, Math.round((Date.now() - at) / 1000));
      if (stale.length > 0)
        event(
          source,
          'override.stale',
          'warn',
          `operator override from ${who}, made ${ago} s ago: ${describeOverride(o)}; ${stale.join(', ')} left as it stands, because a newer change set or reset it`,
        );
      if (stale.length === 0 || (o.target !== 'all' && stale.length < describedFields(o)))
        event(source, 'override.changed', 'info', `operator override from ${who}: ${describeOverride(o)}`);
      pushOverrides();
      return undefined;
    };
    const p = overrideChain.then(run);
    overrideChain = p.catch(() => {});
    return p;
  };

  /** Proofs of relayed changes already taken, by when they may be forgotten (a replay is refused). */
  const proofsSeen = new Map<string, number>();
  /** Why a relayed change is not the operator's, or undefined when it is (D52). */
  const unproven = (o: OverrideChange, madeHere: number): string | undefined => {
    if (!verifyMac(o.proof, operatorProof(adminToken, o, o.made)))
      return "it does not carry the operator's proof (made with another admin token?)";
    const off = o.made - madeHere;
    if (Math.abs(off) > OPERATOR_PROOF_SKEW)
      return `the time it says it was made is ${Math.round(off / 1000)} s off the manager's reckoning (a replayed change, or that interceptor's clock is wrong)`;
    const now = Date.now();
    for (const [p, until] of proofsSeen) if (until < now) proofsSeen.delete(p);
    if (proofsSeen.has(o.proof)) return 'it was taken once already (a replayed change)';
    proofsSeen.set(o.proof, now + 2 * OPERATOR_PROOF_SKEW);
    return undefined;
  };

  const onOverride = (link: ServerLink, o: OverrideChange) => {
    let change: OverrideRequest;
    if (o.target === 'all') {
      if (!o.reset) return refuse(link, 'target "all" needs reset');
      change = { target: 'all', reset: true };
    } else {
      if (!o.name) return refuse(link, 'override without a name');
      change = {
        target: o.target,
        name: o.name,
        ...(o.reset ? { reset: true } : {}),
        ...(o.enabled !== undefined ? { enabled: o.enabled } : {}),
        ...(o.capacity !== undefined ? { capacity: o.capacity } : {}),
        ...(o.sorryPage !== undefined ? { sorryPage: o.sorryPage } : {}),
      };
    }
    const madeHere = Date.now() - (o.age ?? 0);
    const why = unproven(o, madeHere);
    if (why) {
      metrics.refused.labels('proof').inc();
      event(
        link.id,
        'override.refused',
        'warn',
        `override from ${link.role} ${link.id} refused: ${why}: ${describeOverride(change)}`,
      );
      return;
    }
    changeOverride(`${link.role} ${link.id}`, change, madeHere).then(
      (error) => error && refuse(link, error),
      (e: Error) => log.error({ err: e.message }, `override not stored: ${e.message}`),
    );
  };

  const links: LinkServer = startLinkServer({
    server: http,
    keyOf: (role) =>
      role === 'agent' ? keys.agent.secret : role === 'interceptor' ? keys.interceptor.secret : undefined,
    heartbeat: m.heartbeat,
    storedSeq: (role, id) => seqs.get(`${role}/${id}`) ?? 0,
    log,
    refused: (reason) => metrics.refused.labels(reason).inc(),
    replaced: (role) => metrics.replaced.labels(role).inc(),
    duplicate: (role, id, [a, b]) =>
      event(
        id,
        'link.duplicate-name',
        'error',
        `two ${role}s are connecting as "${id}" (from ${a} and ${b}), each replacing the other: give each its own name${NAME_HINT[role] ?? ''}`,
      ),
    handlers: {
      open(link) {
        metrics.links.labels(link.role).inc();
        if (link.role === 'interceptor') {
          interceptors.add(link);
          link.send(overridesMessage());
          link.send({ v: PROTOCOL_VERSION, type: 'load', ...board.loads(clock()), doors: interceptors.size });
        } else if (link.role === 'agent') {
          if (!site.agents.some((a) => a.name === link.id)) {
            log.warn(
              { id: link.id },
              `agent ${link.id} is not in the site file; its figures will be refused`,
            );
          }
          agents.set(link.id, link);
          seenAgents.add(link.id);
          // Its interfaces are told again what they should do, and which pages never move.
          for (const [server, agent] of agentOf) {
            if (agent !== link.id) continue;
            told.delete(server);
            const id = nextCommand++;
            pending.set(id, { server, op: 'set-rules' });
            link.send({
              v: PROTOCOL_VERSION,
              type: 'command',
              id,
              command: { op: 'set-rules', server, ...serverPageRules(site.applications, server) },
            });
          }
        }
      },
      message(link, msg) {
        switch (msg.type) {
          case 'batch':
            return onBatch(link, msg);
          case 'facts':
            if (link.role !== 'agent') return refuse(link, 'facts come from agents only');
            store.hostFacts(link.id, msg.host, Date.now()).then(
              (changed) =>
                changed &&
                event(link.id, 'host.facts', 'info', `host facts of ${link.id} changed or first seen`),
              (e: Error) => log.error({ err: e.message }, `could not store host facts: ${e.message}`),
            );
            return;
          case 'figures':
            if (link.role !== 'agent') return refuse(link, 'figures come from agents only');
            return onFigures(link, msg);
          case 'result': {
            const p = pending.get(msg.id);
            pending.delete(msg.id);
            p?.answer?.(msg);
            if (p && !msg.ok)
              log.warn(
                { server: p.server, op: p.op, error: msg.error },
                `${p.op} for ${p.server} failed: ${msg.error}`,
              );
            return;
          }
          case 'gateway':
            if (link.role !== 'interceptor')
              return refuse(link, 'gateway figures come from interceptors only');
            gateways.set(link.id, { at: clock(), applications: msg.applications });
            return;
          case 'override':
            if (link.role !== 'interceptor')
              return refuse(link, 'overrides come from operators, through interceptors');
            return onOverride(link, msg);
          default:
            return refuse(link, `unexpected message type "${msg.type}" from a ${link.role}`);
        }
      },
      close(link, why) {
        metrics.links.labels(link.role).dec();
        if (link.role === 'interceptor') {
          interceptors.delete(link);
          gateways.delete(link.id);
        }
        if (link.role === 'agent' && agents.get(link.id) === link) {
          agents.delete(link.id);
          if (stopping) return; // the manager is the one going away
          event(
            link.id,
            'agent.lost',
            'warn',
            `agent ${link.id} disconnected (${why}); its servers' figures will age`,
          );
        }
      },
    },
  });

  let missingReported = false;
  /** Agents connected at least once: one lost later is reported as lost, not as missing. */
  const seenAgents = new Set<string>();
  let probedAt = 0;
  const tick = () => {
    const now = clock();
    // A failing store is tried again every second, so health comes back without traffic.
    if (store.health().state === 'failing' && now - probedAt > 1000) {
      probedAt = now;
      store.probeWrite(Date.now()).catch(() => {});
    }
    board.tick(now);
    const loads = board.loads(now);
    pushLoads(loads);
    for (const s of loads.servers) {
      metrics.loadValue.labels(s.server).set(s.L);
      metrics.level.labels(s.server).set(LEVEL_RANK[s.level]);
      metrics.failed.labels(s.server).set(s.failed ? 1 : 0);
    }
    for (const a of site.applications)
      metrics.swamped.labels(a.name).set(loads.swamped.includes(a.name) ? 1 : 0);
    // Server-side redirecting: tell each interface what it should do when that changed, and
    // renew a redirect three times a lease while it stands (D45).
    const want = board.redirects(now);
    for (const [server, agentName] of agentOf) {
      const target = want.has(server) ? redirectTarget : undefined;
      const renew = target !== undefined && now - (renewedAt.get(server) ?? -Infinity) >= m.redirectLease / 3;
      if (told.has(server) && told.get(server) === target && !renew) continue;
      const link = agents.get(agentName);
      if (!link) continue;
      const id = nextCommand++;
      pending.set(id, { server, op: target ? 'redirect' : 'cancel-redirect' });
      const sent = link.send({
        v: PROTOCOL_VERSION,
        type: 'command',
        id,
        command: target
          ? { op: 'redirect', server, target, lease: m.redirectLease }
          : { op: 'cancel-redirect', server },
      });
      if (!sent) continue;
      if (target) renewedAt.set(server, now);
      if (told.has(server) && told.get(server) === target) continue;
      // The first cancel after a (re)connect is routine; a change is news.
      if (told.has(server) || target)
        event(
          server,
          target ? 'server.redirecting' : 'server.redirect-stopped',
          target ? 'warn' : 'info',
          target
            ? `${server} is at maximum load: its interface sends stateless users to ${target}`
            : `${server} no longer redirects`,
        );
      told.set(server, target);
      metrics.redirecting.labels(server).set(target ? 1 : 0);
    }
    if (pending.size > 1000) pending.clear();
    for (const e of board.drainEvents()) event(e.source, e.code, e.level, e.text);
    if (!missingReported && now - started > m.grace) {
      missingReported = true;
      for (const a of site.agents)
        if (!agents.has(a.name) && !seenAgents.has(a.name))
          event(
            a.name,
            'agent.missing',
            'warn',
            `agent ${a.name} has not connected within the ${m.grace} ms grace period`,
          );
    }
  };
  const ticker = setInterval(tick, tickInterval(m.reportInterval));
  const prune = () => {
    store.prune(Date.now() - m.retention).then(
      (n) => n > 0 && log.info({ rows: n }, `retention: deleted ${n} rows older than ${m.retention} ms`),
      (e: Error) => log.error({ err: e.message }, `retention: ${e.message}`),
    );
  };
  prune();
  const pruner = setInterval(prune, Math.min(3_600_000, Math.max(60_000, m.retention / 24)));
  pruner.unref();

  await listenOn(http, listen.host, listen.port).catch(async (e) => {
    clearInterval(ticker);
    clearInterval(pruner);
    links.close();
    await store.close();
    throw e;
  });
  const bound = boundAddress(http);
  const url = `${tls ? 'https' : 'http'}://${bound}`;
  // The address components dial: where the manager listens, as bound, when --listen is given;
  // else the site file's rule (manager.url, or where it listens), with the bound address for
  // where it listens (a port of 0 is the system's choice, and only the bound address says which).
  const linkUrl = opts.listen
    ? `${tls ? 'wss' : 'ws'}://${bound}/link`
    : managerLinkUrl({ ...m, ...(tls ? { tls: m.tls || {} } : {}), listen: bound });
  log.info(
    {
      url,
      linkUrl,
      store: dbFile,
      keys: { agent: keys.agent.source, interceptor: keys.interceptor.source },
      agents: site.agents.length,
      servers: site.servers.length,
    },
    `manager listening on ${url} (components dial ${linkUrl}); store ${dbFile}; report interval ${m.reportInterval} ms`,
  );

  let closing: Promise<void> | undefined;
  return {
    url,
    linkUrl,
    close() {
      closing ??= (async () => {
        stopping = true;
        clearInterval(ticker);
        clearInterval(pruner);
        links.close();
        http.close();
        http.closeAllConnections();
        if (http.listening) await once(http, 'close');
        await store.close();
        log.info('manager stopped');
      })();
      return closing;
    },
  };
}

type StoredValue = Record<string, unknown> & { _v?: Record<string, OverrideOrigin> };

/** A stored override split into its values and their versions (`_v`). */
function versioned(v: StoredValue): VersionedOverride {
  const { _v, ...values } = v;
  return { values, versions: _v ?? {} };
}

function unversioned(v: VersionedOverride): Record<string, unknown> {
  return { ...v.values, _v: v.versions };
}

function valuesOnly<T>(map: Record<string, T & { _v?: unknown }>): Record<string, T> {
  return Object.fromEntries(
    Object.entries(map).map(([k, v]) => [k, versioned(v as StoredValue).values as T]),
  );
}

/** Each override's fields: who set it and how long ago (ms), as interceptors take it. */
function originAges(
  map: Record<string, { _v?: unknown }>,
  now: number,
): Record<string, Record<string, { age: number; by: string }>> {
  return Object.fromEntries(
    Object.entries(map).map(([k, v]) => [
      k,
      Object.fromEntries(
        Object.entries(versioned(v as StoredValue).versions).map(([field, o]) => [
          field,
          { age: Math.max(0, now - o.at), by: o.by.slice(0, 200) },
        ]),
      ),
    ]),
  );
}

/** Values with, beside them, where each came from (`ctl manager`). */
function withOrigins<T>(
  map: Record<string, T & { _v?: unknown }>,
): Record<string, T & { origins?: Record<string, OverrideOrigin> }> {
  return Object.fromEntries(
    Object.entries(map).map(([k, v]) => {
      const s = versioned(v as StoredValue);
      return [
        k,
        { ...(s.values as T), ...(Object.keys(s.versions).length > 0 ? { origins: s.versions } : {}) },
      ];
    }),
  );
}

/** How many things a change asks (a reset counts as one). */
function describedFields(o: OverrideRequest): number {
  if (o.target === 'all') return 1;
  return [o.reset, o.enabled, o.capacity, o.sorryPage].filter((x) => x !== undefined && x !== false).length;
}

/** One line for the event log; a sorry page is given by its size, not its text. */
function describeOverride(o: OverrideRequest): string {
  if (o.target === 'all') return 'reset everything';
  const parts = [
    o.reset ? 'reset' : '',
    o.enabled === undefined ? '' : o.enabled ? 'enabled' : 'disabled',
    o.capacity === undefined ? '' : `capacity ${o.capacity}`,
    o.sorryPage === undefined ? '' : `sorry page of ${o.sorryPage.length} characters`,
  ].filter(Boolean);
  return `${o.target} ${o.name}: ${parts.join(', ')}`;
}

/** What `GET /status` on the manager gives (`switchyard ctl manager`). */
export interface ManagerStatusView {
  manager: { uptimeMs: number; store: string; storeHealth: StoreHealth };
  agents: Array<{ name: string; connected: boolean; servers: string[] }>;
  interceptors: string[];
  /** Each interceptor's admission queues (its proxy applications), as it last said. */
  gateways: Array<{ interceptor: string; ageMs: number; applications: MessageOf<'gateway'>['applications'] }>;
  servers: ServerLoad[];
  overrides: {
    applications: Record<
      string,
      { enabled?: boolean; sorryPage?: string; origins?: Record<string, OverrideOrigin> }
    >;
    servers: Record<
      string,
      { enabled?: boolean; capacity?: number; origins?: Record<string, OverrideOrigin> }
    >;
  };
}
