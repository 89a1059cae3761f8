import { once } from 'node:events';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import {
  createServer as createHttp2Server,
  createSecureServer as createSecureHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { type AddressInfo, BlockList, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { createSecureContext } from 'node:tls';
import { ensureToken } from '../config/admin-token.js';
import { type ListenSpec, type LoadedSite, loadSite } from '../config/load.js';
import { managerLinkUrl } from '../config/monitoring-schema.js';
import { componentKey } from '../config/secret-file.js';
import { managerCa } from '../config/tls-files.js';
import type { Clock, Random } from '../core/random.js';
import { SwitchyardError } from '../errors.js';
import { createGateway } from '../gateway/gateway.js';
import { boundAddress, listenOn } from '../listen.js';
import { createLogger, type Logger } from '../log/logger.js';
import { componentId } from '../protocol/handshake.js';
import { createAdminServer } from './admin.js';
import { createHandler, createUpgradeHandler, pendingAnswers } from './handler.js';
import { HealthChecker } from './health-checker.js';
import { ManagerLink } from './manager-link.js';
import { createInterceptorMetrics } from './metrics.js';
import { clearOverrides, emptyOverrides, overrideApp, overrideServer } from './overrides.js';
import { refreshInterval, SiteState } from './site-state.js';
import { explainView, statusView } from './views.js';

/**
 * The interceptor component: listeners, admin endpoint, checks and reload around the
 * handler. Everything it decides comes from decide.ts and the core.
 *
 * @example
 * const ic = await startInterceptor({ configFile: 'site.yaml' });
 * console.log(ic.urls); // ['http://127.0.0.1:8080']
 * await ic.close();
 */

export interface InterceptorOptions {
  configFile: string;
  clock?: Clock;
  random?: Random;
  log?: Logger;
  /** The name given to the manager; default: the site file's, else host name and first listen port. */
  name?: string;
  /** Called when an operator asks for shutdown; default: close and exit 0. */
  onShutdown?: () => void;
}

export interface Interceptor {
  urls: string[];
  adminUrl: string;
  reload(): { ok: true } | { ok: false; error: string };
  close(): Promise<void>;
}

export async function startInterceptor(opts: InterceptorOptions): Promise<Interceptor> {
  const clock = opts.clock ?? (() => performance.now());
  const random = opts.random ?? Math.random;
  const log = opts.log ?? createLogger('interceptor');
  const overrides = emptyOverrides();

  let loaded: LoadedSite = loadSite(opts.configFile);
  const { token: initialToken, source: tokenSource } = ensureToken(
    opts.configFile,
    loaded.site.interceptor.adminTokenFile,
  );
  let token = initialToken;
  let state = new SiteState(loaded.site, loaded.addresses, loaded.sorryPages, overrides, undefined, clock());
  let trusted = blockList(loaded.site.interceptor.trustedProxies);
  const metrics = createInterceptorMetrics(
    { servers: () => state.servers.values(), now: clock },
    () => gateway,
  );

  const refreshGauges = () => {
    metrics.serverUp.reset();
    metrics.serverEnabled.reset();
    for (const s of state.servers.values()) {
      metrics.serverUp.labels(s.name).set(s.health.up ? 1 : 0);
      metrics.serverEnabled.labels(s.name).set(s.enabled ? 1 : 0);
    }
  };
  const rebuild = () => {
    state = new SiteState(loaded.site, loaded.addresses, loaded.sorryPages, overrides, state, clock());
    if (managerLink) state.refreshManaged(clock());
    trusted = blockList(loaded.site.interceptor.trustedProxies);
    gateway.retain(new Set(state.servers.keys()));
    checker.sync();
    refreshGauges();
  };
  const checker = new HealthChecker(() => state, clock, log, refreshGauges);

  // With a manager in the site file: its load values, levels and the shared overrides.
  // The manager section and secret are read at start; changing them needs a restart. The
  // link itself is made once the listeners are up: its default name holds the port.
  const m = loaded.site.manager;
  // Two keys (D52): the mark key to read redirect marks, the interceptor key to link.
  const linkKey = m ? componentKey('interceptor', opts.configFile, m.keys) : undefined;
  // Over TLS, the manager's certificate is checked against the site's CA (D53).
  const linkCa = m && managerLinkUrl(m).startsWith('wss:') ? managerCa(opts.configFile, m) : undefined;
  state.markSecret = m ? componentKey('mark', opts.configFile, m.keys) : undefined;
  let managerLink: ManagerLink | undefined;
  let managedTick: NodeJS.Timeout | undefined;
  let gatewayTick: NodeJS.Timeout | undefined;
  const linkToManager = (m: NonNullable<typeof loaded.site.manager>, key: string, id: string) => {
    managerLink = new ManagerLink({
      manager: m,
      id,
      key,
      ca: linkCa,
      operatorToken: () => token,
      log,
      onLoad: (msg) => {
        state.applyLoad(msg.servers, msg.swamped, clock(), msg.doors);
        gateway.refigured(msg.servers);
      },
      onOverrides: (msg) => {
        clearOverrides(overrides);
        for (const [name, o] of Object.entries(msg.applications))
          overrides.apps.set(name, {
            ...(o.enabled !== undefined ? { enabled: o.enabled } : {}),
            ...(o.sorryPage !== undefined ? { sorryPage: Buffer.from(o.sorryPage, 'utf8') } : {}),
          });
        for (const [name, o] of Object.entries(msg.servers)) overrides.servers.set(name, { ...o });
        // Ages, not times: this host's clock need not agree with the manager's.
        const wall = Date.now();
        const note = (
          kind: string,
          all: Record<string, Record<string, { age: number; by: string } | undefined>>,
        ) => {
          for (const [name, fields] of Object.entries(all)) {
            const known = Object.entries(fields).flatMap(([f, o]) =>
              o ? [[f, { at: wall - o.age, by: o.by }]] : [],
            );
            overrides.origins.set(`${kind} ${name}`, Object.fromEntries(known));
          }
        };
        note('application', msg.origins?.applications ?? {});
        note('server', msg.origins?.servers ?? {});
        rebuild();
      },
    });
    // LM fades from L toward C continuously, and the manager's levels lapse when it goes
    // quiet: both need a clock tick, not only a message.
    managedTick = setInterval(() => state.refreshManaged(clock()), refreshInterval(m.reportInterval));
    managedTick.unref();
    // The gateway's admission queues, once a second, when it has proxied anything.
    gatewayTick = setInterval(() => {
      const queues = gateway.queues();
      if (queues.length === 0) return;
      managerLink?.gatewayFigures(
        queues.map((q) => ({
          name: q.application,
          queueLength: q.length,
          oldestWaitMs: Math.round(q.oldestWaitMs),
          meanWaitMs: q.sent > 0 ? Math.round((q.waitedMs / q.sent) * 10) / 10 : 0,
          timedOut: q.timedOut,
          refused: q.refused,
        })),
      );
    }, 1000);
    gatewayTick.unref();
    managerLink.start();
  };

  const gateway = createGateway({
    clock,
    random,
    log,
    count: (app, server, status) => {
      metrics.requestTally.cell(`${app}\u0000${server}\u0000${status}`, () => ({
        application: app,
        server,
        status: String(status),
      })).n++;
    },
    failed: (server, kind) => metrics.upstreamFailures.labels(server, kind).inc(),
    retried: (app) => metrics.retries.labels(app).inc(),
    ejected: (server) => metrics.ejections.labels(server).inc(),
    markKey: () => state.markSecret,
  });
  const handlerContext = {
    state: () => state,
    clock,
    random,
    metrics,
    log,
    trustedProxies: () => trusted,
    gateway,
  };
  const handler = createHandler(handlerContext);
  const upgrade = createUpgradeHandler(handlerContext, handler);
  const ic = loaded.site.interceptor;
  const serverOptions = {
    maxHeaderSize: ic.maxHeaderBytes,
    headersTimeout: ic.headersTimeout,
    requestTimeout: ic.requestTimeout,
    keepAliveTimeout: ic.keepAliveTimeout,
    // Node enforces both time-outs only when it sweeps its connections, every 30 s by default,
    // so a slow client would keep its socket up to 30 s past them: sweep often enough that
    // they hold to within a quarter of the shorter one.
    connectionsCheckingInterval: checkingInterval(ic.headersTimeout, ic.requestTimeout),
  };
  const listeners: Array<Server | HttpsServer> = [];
  const sockets = new Set<Socket>();
  for (const spec of loaded.listen) {
    const server = makeServer(spec, serverOptions, ic.maxHeaderBytes, handler);
    server.on('upgrade', upgrade);
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      metrics.refusals.labels(tooLarge ? 'header-too-large' : 'client-error').inc();
      if (socket.writable && !socket.destroyed) {
        socket.end(
          tooLarge
            ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'
            : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
              ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'
              : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
        );
      }
      socket.destroy();
    });
    // A connection that takes none of what it is sent for sendTimeout (a client that stopped
    // reading its answers) is closed, so its held slots come back (issue 29).
    // (HTTP/2 multiplexes streams on one connection with flow control of its own: a session
    // is never cut for this.)
    if (!spec.http2)
      server.setTimeout(ic.sendTimeout, (s: Socket) => {
        // Quiet while a proxied answer is awaited from its server: the gateway's own time-outs
        // govern that wait (a slow server is not a client that stopped reading).
        if (s.writableLength === 0 && pendingAnswers(s) > 0) return;
        if (s.writableLength > 0) metrics.refusals.labels('send-timeout').inc();
        s.destroy();
      });
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    await listenOn(server, spec.host, spec.port);
    listeners.push(server);
  }
  const urls = listeners.map((s, i) => {
    return `${loaded.listen[i]!.tls ? 'https' : 'http'}://${boundAddress(s)}`;
  });

  const notFound = (kind: string, name: string) =>
    new SwitchyardError('SY_ERR_NOT_FOUND', `no ${kind} named "${name}"`);
  const findServer = (name: string) => {
    const s = state.servers.get(name);
    if (!s) throw notFound('server', name);
    return s;
  };
  const findApp = (name: string) => {
    const a = state.apps.find((x) => x.name === name);
    if (!a) throw notFound('application', name);
    return a;
  };

  const reload = (): { ok: true } | { ok: false; error: string } => {
    let next: LoadedSite;
    try {
      next = loadSite(opts.configFile);
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      metrics.reloads.labels('refused').inc();
      log.error(
        { file: opts.configFile, error },
        'reload refused: the site file is invalid; the running configuration stays',
      );
      return { ok: false, error };
    }
    const restartNeeded = staticChanges(loaded, next);
    if (restartNeeded.length > 0) {
      log.warn({ keys: restartNeeded }, `reload: ${restartNeeded.join(', ')} changed; restart to apply`);
    }
    // TLS certificates are read again on every reload. All are checked before any is used,
    // so an unreadable or mismatched pair refuses the reload instead of ending the process.
    const contexts: Array<[HttpsServer, { cert: Buffer; key: Buffer }]> = [];
    try {
      loaded.listen.forEach((spec, i) => {
        const nextTls = next.listen[i]?.tls;
        if (!spec.tls || !nextTls) return;
        createSecureContext({ cert: nextTls.cert, key: nextTls.key });
        contexts.push([listeners[i] as HttpsServer, { cert: nextTls.cert, key: nextTls.key }]);
      });
    } catch (e) {
      const error = `${opts.configFile}: TLS certificate or key not usable: ${(e as Error).message}`;
      metrics.reloads.labels('refused').inc();
      log.error({ file: opts.configFile, error }, 'reload refused: the running configuration stays');
      return { ok: false, error };
    }
    for (const [server, pair] of contexts) server.setSecureContext(pair);
    loaded = { ...next, listen: loaded.listen, admin: loaded.admin };
    try {
      token = ensureToken(opts.configFile, loaded.site.interceptor.adminTokenFile).token;
    } catch (e) {
      log.warn({ error: (e as Error).message }, 'reload: admin token unchanged');
    }
    rebuild();
    metrics.reloads.labels('applied').inc();
    log.info({ file: opts.configFile }, 'reload applied');
    return { ok: true };
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      checker.stop();
      clearInterval(managedTick);
      clearInterval(gatewayTick);
      await managerLink?.close();
      const all = [...listeners, admin];
      for (const s of all) s.close();
      for (const s of all) s.closeIdleConnections();
      // Give in-flight responses a moment, then cut what is left.
      const deadline = setTimeout(() => {
        for (const s of sockets) s.destroy();
        admin.closeAllConnections();
      }, 2000);
      await Promise.all(all.map((s) => (s.listening ? once(s, 'close') : undefined)));
      await gateway.close();
      clearTimeout(deadline);
      log.info('interceptor stopped');
    })();
    return closing;
  };

  const now = () => clock();
  // A change made here: the manager, when linked, sends the set back with its own record.
  const madeHere = () => ({ at: Date.now(), by: 'operator at this interceptor' });
  const admin = createAdminServer(
    {
      status: () => statusView(state, overrides, now(), gateway),
      explain: (url, host, secure) => explainView(state, url, host, secure, now()),
      setAppEnabled: (name, enabled) => {
        findApp(name).enabled = enabled;
        overrideApp(overrides, name, { enabled }, madeHere());
        managerLink?.change({ target: 'application', name, enabled });
        log.info(
          { application: name, enabled },
          `operator ${enabled ? 'enabled' : 'disabled'} application ${name}`,
        );
      },
      setServerEnabled: (name, enabled) => {
        const s = findServer(name);
        s.enabled = enabled;
        overrideServer(overrides, name, { enabled }, madeHere());
        managerLink?.change({ target: 'server', name, enabled });
        state.updateAvailability(s, now());
        refreshGauges();
        log.info({ server: name, enabled }, `operator ${enabled ? 'enabled' : 'disabled'} server ${name}`);
      },
      setCapacity: (name, capacity) => {
        state.setCapacity(findServer(name), capacity, now());
        overrideServer(overrides, name, { capacity }, madeHere());
        managerLink?.change({ target: 'server', name, capacity });
        log.info({ server: name, capacity }, `operator set capacity of ${name} to ${capacity}`);
      },
      setSorryPage: (name, html) => {
        findApp(name).sorryPage = html;
        overrideApp(overrides, name, { sorryPage: html }, madeHere());
        managerLink?.change({ target: 'application', name, sorryPage: html.toString('utf8') });
        log.info({ application: name, bytes: html.length }, `operator set the sorry page of ${name}`);
      },
      reload,
      reset: () => {
        clearOverrides(overrides);
        managerLink?.change({ target: 'all', reset: true });
        rebuild();
        log.info('operator dropped all overrides');
      },
      shutdown: () => {
        log.info('shutdown requested through the admin endpoint');
        if (opts.onShutdown) opts.onShutdown();
        else void close().then(() => process.exit(0));
      },
    },
    () => token,
    metrics,
    log,
    () => tokenSource,
  );
  await listenOn(admin, loaded.admin.host, loaded.admin.port);
  const adminUrl = `http://${boundAddress(admin)}`;

  checker.sync();
  refreshGauges();
  // Two interceptors under one name would replace each other at the manager over and over,
  // each left without figures half the time, so the default differs per host and port.
  const name = opts.name ?? loaded.site.interceptor.name ?? defaultName(portOf(listeners[0]!));
  if (m && linkKey !== undefined) linkToManager(m, linkKey, name);
  log.info(
    {
      name,
      listen: urls,
      admin: adminUrl,
      applications: state.apps.length,
      servers: state.servers.size,
      manager: m ? (m.url ?? m.listen) : undefined,
      token: undefined,
      tokenSource,
    },
    `interceptor listening on ${urls.join(', ')}; admin on ${adminUrl}; ${state.apps.length} application(s), ${state.servers.size} server(s)`,
  );
  return { urls, adminUrl, reload, close };
}

function blockList(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/');
    const family = addr!.includes(':') ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr!, family);
    else list.addSubnet(addr!, Number(bits), family);
  }
  return list;
}

/** How often Node sweeps for timed-out requests: a quarter of the shorter time-out, 50 ms..30 s. */
/**
 * One listener's server: HTTP/1.1, over TLS or not, or with HTTP/2 (issue 30): over TLS by
 * ALPN beside HTTP/1.1 (one handler serves both, through Node's compatibility API), or
 * cleartext HTTP/2 alone (h2c with prior knowledge).
 */
function makeServer(
  spec: ListenSpec,
  options: ServerOptions,
  maxHeaderBytes: number,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Server | HttpsServer {
  const h2 = { settings: { maxHeaderListSize: maxHeaderBytes, maxConcurrentStreams: 128 } };
  const any = handler as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void;
  if (spec.http2 && spec.tls)
    return createSecureHttp2Server(
      { ...options, ...h2, allowHTTP1: true, cert: spec.tls.cert, key: spec.tls.key },
      any,
    ) as unknown as HttpsServer;
  if (spec.http2) return createHttp2Server(h2, any) as unknown as Server;
  return spec.tls
    ? createHttpsServer({ ...options, cert: spec.tls.cert, key: spec.tls.key }, handler)
    : createHttpServer(options, handler);
}

function checkingInterval(headersTimeout: number, requestTimeout: number): number {
  const shortest = Math.min(...[headersTimeout, requestTimeout].filter((t) => t > 0), 120_000);
  return Math.min(30_000, Math.max(50, Math.floor(shortest / 4)));
}

/** This host's name and the port browsers reach this interceptor on, when that makes an id. */
function defaultName(port: number): string {
  const id = `${hostname()}:${port}`;
  return componentId.safeParse(id).success ? id : `interceptor:${port}`;
}

function portOf(s: Server | HttpsServer): number {
  return (s.address() as AddressInfo).port;
}

/** Keys that only a restart applies. */
function staticChanges(a: LoadedSite, b: LoadedSite): string[] {
  const out: string[] = [];
  const addrs = (l: LoadedSite) => JSON.stringify(l.listen.map((x) => [x.host, x.port, Boolean(x.tls)]));
  if (addrs(a) !== addrs(b)) out.push('interceptor.listen');
  if (a.site.interceptor.admin !== b.site.interceptor.admin) out.push('interceptor.admin');
  if (a.site.interceptor.name !== b.site.interceptor.name) out.push('interceptor.name');
  for (const k of ['maxHeaderBytes', 'headersTimeout', 'requestTimeout', 'keepAliveTimeout'] as const) {
    if (a.site.interceptor[k] !== b.site.interceptor[k]) out.push(`interceptor.${k}`);
  }
  return out;
}
