import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { type ProxyConfig, proxySettings } from '../config/gateway-schema.js';
import { AdaptiveLimit } from '../core/adaptive-limit.js';
import type { Clock, Random } from '../core/random.js';
import { isEjected, rampOf } from '../core/server-watch.js';
import type { AppState, ServerState } from '../interceptor/site-state.js';
import type { Logger } from '../log/logger.js';
import { GATEWAY_HEADER, gatewayToken } from '../protocol/redirect-mark.js';
import type { Waiter } from './admission.js';
import {
  type AppGateway,
  appGatewayFor,
  FULL,
  limitNow,
  limitOf,
  NONE,
  noteOutcome,
  pickServer,
} from './choose.js';
import { Exchange } from './exchange.js';
import { requestHeaders, responseHeaders } from './forward-headers.js';
import { answerOnSocket, openTunnel, upgradeValue } from './tunnel.js';
import { type FailureKind, failureOf, neverReached } from './upstream-errors.js';
import { ended, sent, type Upstream, Upstreams } from './upstreams.js';

/**
 * The gateway (issue 30, document 004): an application in `mode: proxy` has every request
 * carried to a server and the answer carried back, both bodies streamed. The interceptor's
 * handler has matched the application and checked the request; this picks the server from
 * what it sees (requests in flight) and the application's availability (health, overrides,
 * the manager's levels), and answers 502/503/504 in words when it cannot.
 *
 * @example
 * const gw = createGateway({ clock, random, log, count, failed });
 * gw.forward(req, res, app, { pathAndQuery: '/x', host: 'shop.example' }, false, trusted);
 */

export interface GatewayContext {
  clock: Clock;
  random: Random;
  log: Logger;
  /** Counts an answer: application, server ('-' for none), status. */
  count(app: string, server: string, status: number): void;
  /** Counts a failure to reach or hear from a server, and a retry made. */
  failed(server: string, kind: FailureKind): void;
  retried(app: string): void;
  /** Counts a server ejected as an outlier. */
  ejected(server: string): void;
  /** The site's mark key, when there is one: requests carry the gateway's token (D54). */
  markKey(): string | undefined;
}

export interface ForwardTarget {
  pathAndQuery: string;
  host: string | undefined;
}

/** Methods a server must treat as safe to repeat (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export interface QueueView {
  application: string;
  /** Requests waiting now, and how long the oldest has waited, ms. */
  length: number;
  oldestWaitMs: number;
  /** Since start: sent from the queue, their total wait (ms), timed out, refused as full. */
  sent: number;
  waitedMs: number;
  timedOut: number;
  refused: number;
}

/** What `ctl status` shows of a proxy application's gateway. */
export interface GatewayAppView {
  choice: string;
  queue: { length: number; oldestWaitMs: number; meanWaitMs: number; timedOut: number; refused: number };
  servers: Array<{
    name: string;
    inFlight: number;
    latencyMs: number;
    ejected: boolean;
    ramp: number;
    /** Requests in flight it may have now (absent: no limit). */
    limit?: number;
  }>;
}

export interface Gateway {
  /** The gateway's view of an application, for status; undefined before its first request. */
  appView(name: string): GatewayAppView | undefined;
  /** Carries a protocol upgrade (WebSocket) through to a server, bytes both ways after it. */
  tunnel(
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    app: AppState,
    target: ForwardTarget,
    secure: boolean,
    trusted: boolean,
  ): void;
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    app: AppState,
    target: ForwardTarget,
    secure: boolean,
    trusted: boolean,
  ): void;
  /** In flight per server name, for status and metrics. */
  inFlight(server: string): number;
  /** Each proxy application's admission queue, for status and metrics. */
  queues(): QueueView[];
  /** After a reload: servers gone from the site file lose their connections. */
  retain(servers: ReadonlySet<string>): void;
  /**
   * New figures for these servers: a place others freed there (another door's request ended)
   * goes to a waiting request now, not when one of this gateway's own ends.
   */
  refigured(servers: readonly { server: string }[]): void;
  close(): Promise<void>;
}

export function createGateway(ctx: GatewayContext): Gateway {
  const upstreams = new Upstreams();
  const origins = new WeakMap<ServerState, string>();
  const originOf = (s: ServerState) => {
    let o = origins.get(s);
    if (o === undefined) {
      o = new URL(s.addresses.internal).origin;
      origins.set(s, o);
    }
    return o;
  };
  // By name, so a reload (new AppState objects) keeps each application's queue.
  const perApp = new Map<string, AppGateway>();
  const appGateway = (app: AppState): AppGateway => {
    let g = perApp.get(app.name);
    if (!g || g.app.config !== app.config) {
      g = appGatewayFor(app, g, proxySettings(app.config.proxy), ctx.clock);
      perApp.set(app.name, g);
    } else g.app = app;
    return g;
  };
  const pick = (app: AppState, g: AppGateway, tried: ReadonlySet<number>, limits = true) =>
    pickServer(app, g, upstreams, tried, limits, ctx.clock(), ctx.random, originOf);
  /** One exchange's outcome, for latency and outlier ejection; says so when it ejects. */
  const outcome = (g: AppGateway, up: Upstream, sentAt: number, sentWith: number, ok: boolean) => {
    const now = ctx.clock();
    // The adaptive limit learns from every answer's time, failures included (a time-out is
    // the clearest sign of too much in flight).
    if (g.settings.serverLimit === 'adaptive') {
      up.adaptive ??= new AdaptiveLimit(ctx.random);
      up.adaptive.observe(now - sentAt, sentWith, now);
    }
    if (!noteOutcome(g, up, now - sentAt, ok, now, upstreams)) return;
    ctx.ejected(up.name);
    ctx.log.warn(
      { server: up.name, until: Math.round(up.watch.ejectedUntil - now) },
      `${up.name} ejected for ${Math.round((up.watch.ejectedUntil - now) / 1000)} s after ${g.settings.consecutiveFailures} failures in a row; one request will probe it then`,
    );
  };

  /**
   * A server has a free place: the oldest request waiting for any application it serves goes
   * to it, and the next, while places last.
   */
  const released = (up: Upstream) => {
    const server = up.server;
    if (!server) return;
    for (;;) {
      let best: { g: AppGateway; index: number; at: number } | undefined;
      for (const m of server.memberships) {
        const g = perApp.get(m.app.name);
        const w = g?.queue.oldest();
        if (!g || !w || (best && best.at <= w.at)) continue;
        if (!g.app.pool.isAvailable(m.index)) continue;
        if (up.inFlight >= limitNow(g, m.index, up, ctx.clock())) continue;
        best = { g, index: m.index, at: w.at };
      }
      if (!best) return;
      best.g.queue.take(ctx.clock())!.go(server.name);
    }
  };

  // The gateway's token changes once a minute: made then, not per request.
  let tokenCache = { key: '', window: -1, token: '' };
  const token = (key: string) => {
    const now = Date.now();
    const window = Math.floor(now / 60_000);
    if (tokenCache.key !== key || tokenCache.window !== window)
      tokenCache = { key, window, token: gatewayToken(key, now) };
    return tokenCache.token;
  };

  const forward: Gateway['forward'] = (req, res, app, target, secure, trusted) => {
    const g = appGateway(app);
    const s = g.settings;
    const method = req.method ?? 'GET';
    const { headers, requestId } = requestHeaders(req.rawHeaders, {
      client: req.socket.remoteAddress ?? '',
      trusted,
      secure,
      host: target.host,
      requestId: randomUUID(),
    });
    const key = ctx.markKey();
    if (key !== undefined) headers.push(GATEWAY_HEADER, token(key));
    // HTTP/2 has no Transfer-Encoding: a stream that did not end with its headers has a body.
    const hasBody =
      req.httpVersionMajor === 2
        ? !(req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders
        : req.headers['transfer-encoding'] !== undefined ||
          (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    const socket = req.socket;
    // The try under way, told when the client goes so the server's work is stopped too.
    let current: Exchange | undefined;
    let clientGone = false;
    res.once('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      current?.clientGone();
    });
    g.budget.request();
    const tried = new Set<number>();

    /** Sends the request to a server: the one named (from the queue), else the pick's. */
    const attempt = (named?: string, last?: [number, string, string]) => {
      if (clientGone) return;
      const i = named !== undefined ? (app.serverIndex.get(named) ?? NONE) : pick(app, g, tried);
      if (i === FULL && tried.size === 0) return wait();
      if (i < 0) {
        if (last) return answer(...last);
        return answer(503, '-', 'no server of this application can take a request now');
      }
      tried.add(i);
      const server = app.servers[i]!;
      const up = upstreams.get(server.name, originOf(server), s);
      sent(up, ctx.clock());
      const sentWith = up.inFlight;
      const sentAt = ctx.clock();
      const exchange = new Exchange(res, {
        started: (statusCode, raw) => {
          outcome(g, up, sentAt, sentWith, statusCode < 500);
          res.writeHead(statusCode, responseHeaders(raw));
          ctx.count(app.name, server.name, statusCode);
        },
        ended: (err, started) => {
          ended(up, ctx.clock());
          released(up);
          if (!err) return;
          if (clientGone) return; // the client went: nobody to answer
          const kind = failureOf(err);
          ctx.failed(server.name, kind);
          outcome(g, up, sentAt, sentWith, false);
          if (started) {
            // Part of the answer is out: end it visibly (a cut connection), never hang.
            ctx.log.warn(
              { app: app.name, server: server.name, requestId, err: err.message },
              `${server.name} failed in the middle of its answer to ${method} ${target.pathAndQuery.slice(0, 200)}: ${err.message}`,
            );
            res.destroy();
            return;
          }
          // Safe to try another server: the request never reached this one (its body
          // unread), or it is idempotent, bodiless, and nothing came back.
          const repeatable = IDEMPOTENT.has(method) && !hasBody;
          if (
            tried.size <= s.retries &&
            ((neverReached(kind) && !req.readableDidRead) || repeatable) &&
            tried.size < app.servers.length &&
            g.budget.tryRetry()
          ) {
            ctx.retried(app.name);
            const [status, why] = describe(kind, server.name, s);
            return attempt(undefined, [status, server.name, why]);
          }
          const [status, why] = describe(kind, server.name, s);
          ctx.log.warn(
            { app: app.name, server: server.name, requestId, status, err: err.message },
            `${method} ${target.pathAndQuery.slice(0, 200)}: ${why}`,
          );
          answer(status, server.name, why);
        },
      });
      current = exchange;
      up.pool.dispatch(
        {
          path: target.pathAndQuery,
          method: method as 'GET',
          headers,
          // A body of its own for each try: undici destroys the body of a request that fails,
          // and a request refused at connect (its body unread) may still go to another server.
          body: hasBody ? Readable.from(bodyOf(req), { objectMode: false }) : null,
        },
        exchange,
      );
    };

    /** Every server that could take it is at its limit: wait for the first free place. */
    const wait = () => {
      let timer: NodeJS.Timeout | undefined;
      const onGone = () => {
        clearTimeout(timer);
        g.queue.drop(w, false);
      };
      const w: Waiter = {
        at: ctx.clock(),
        done: false,
        go: (name) => {
          clearTimeout(timer);
          res.off('close', onGone);
          attempt(name);
        },
      };
      if (!g.queue.push(w)) return answer(503, '-', `${s.queueLength} requests are waiting already`);
      timer = setTimeout(() => {
        g.queue.drop(w, true);
        answer(503, '-', `every server was at its limit for ${s.queueTimeout} ms`);
      }, s.queueTimeout);
      res.once('close', onGone);
    };

    const answer = (status: number, server: string, why: string) => {
      ctx.count(app.name, server, status);
      if (res.headersSent || res.destroyed) return;
      const body = Buffer.from(
        `${status === 503 ? 'service unavailable' : status === 504 ? 'gateway timeout' : 'bad gateway'}: ${why}\n`,
      );
      res.writeHead(status, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': String(body.length),
        'cache-control': 'no-store',
        'x-request-id': requestId,
        ...(status === 503 ? { 'retry-after': '1' } : {}),
      });
      res.end(body);
      // A body the client is still sending is not read on: close after the answer.
      if (hasBody && !req.readableEnded) res.once('finish', () => socket.destroy());
    };

    attempt();
  };

  const tunnel: Gateway['tunnel'] = (req, socket, head, app, target, secure, trusted) => {
    const g = appGateway(app);
    const s = g.settings;
    if (upgradeValue(req) === undefined)
      return answerOnSocket(socket, 400, 'bad request: an Upgrade header this gateway cannot pass on');
    // A tunnel is long-lived and mostly idle: it is not held to the servers' limits.
    const i = pick(app, g, new Set(), false);
    if (i < 0) {
      ctx.count(app.name, '-', 503);
      return answerOnSocket(
        socket,
        503,
        'service unavailable: no server of this application can take a request now',
        { 'retry-after': '1' },
      );
    }
    const server = app.servers[i]!;
    const up = upstreams.get(server.name, originOf(server), s);
    sent(up, ctx.clock());
    const key = ctx.markKey();
    const requestId = randomUUID();
    openTunnel(
      req,
      socket,
      head,
      {
        origin: new URL(originOf(server)),
        pathAndQuery: target.pathAndQuery,
        client: socket.remoteAddress ?? '',
        trusted,
        secure,
        host: target.host,
        requestId,
        extra: key !== undefined ? [GATEWAY_HEADER, token(key)] : [],
        connectTimeout: s.connectTimeout,
        idleTimeout: s.idleTimeout,
      },
      {
        onFail: (err) => {
          ended(up, ctx.clock());
          released(up);
          const kind = failureOf(err);
          ctx.failed(server.name, kind);
          const [status, why] = describe(kind, server.name, s);
          ctx.count(app.name, server.name, status);
          ctx.log.warn(
            { app: app.name, server: server.name, requestId, err: err.message },
            `upgrade to ${server.name}: ${why}`,
          );
          answerOnSocket(socket, status, `${status === 504 ? 'gateway timeout' : 'bad gateway'}: ${why}`);
        },
        onStatus: (status) => ctx.count(app.name, server.name, status),
        onClose: () => {
          ended(up, ctx.clock());
          released(up);
        },
      },
    );
  };

  const appView: Gateway['appView'] = (name) => {
    const g = perApp.get(name);
    if (!g) return undefined;
    const now = ctx.clock();
    const q = g.queue;
    return {
      choice: g.settings.choice,
      queue: {
        length: q.length,
        oldestWaitMs: Math.round(q.oldestWaitMs(now)),
        meanWaitMs: q.sent > 0 ? Math.round((q.waitedMs / q.sent) * 10) / 10 : 0,
        timedOut: q.timedOut,
        refused: q.refused,
      },
      servers: g.app.servers.map((srv, i) => {
        const up = upstreams.peek(srv.name);
        const limit = up ? limitNow(g, i, up, now) : limitOf(srv, g.settings, up);
        return {
          ...(Number.isFinite(limit) ? { limit } : {}),
          name: srv.name,
          inFlight: up?.inFlight ?? 0,
          latencyMs: Math.round((up?.watch.latency ?? 0) * 10) / 10,
          ejected: up ? isEjected(up.watch, now) : false,
          ramp: up ? Math.round(rampOf(up.watch, now, g.watch) * 100) / 100 : 1,
        };
      }),
    };
  };

  return {
    appView,
    tunnel,
    forward,
    inFlight: (server) => upstreams.peek(server)?.inFlight ?? 0,
    queues: () => {
      const now = ctx.clock();
      return [...perApp.values()].map(({ app, queue: q }) => ({
        application: app.name,
        length: q.length,
        oldestWaitMs: q.oldestWaitMs(now),
        sent: q.sent,
        waitedMs: q.waitedMs,
        timedOut: q.timedOut,
        refused: q.refused,
      }));
    },
    retain: (servers) => upstreams.retain(servers),
    refigured: (servers) => {
      for (const { server } of servers) {
        const up = upstreams.peek(server);
        if (up) released(up);
      }
    },
    close: () => upstreams.close(),
  };
}

/**
 * The client's request body as undici takes it. An async generator not yet started leaves
 * the request stream untouched when undici gives up on it before reading.
 */
async function* bodyOf(req: IncomingMessage): AsyncGenerator<Buffer> {
  for await (const chunk of req) yield chunk as Buffer;
}

function describe(kind: FailureKind, server: string, s: ProxyConfig): [number, string] {
  switch (kind) {
    case 'connect':
      return [502, `could not connect to ${server}`];
    case 'connect-timeout':
      return [504, `${server} did not accept a connection within ${s.connectTimeout} ms`];
    case 'response-timeout':
      return [504, `${server} sent no answer within ${s.responseTimeout} ms`];
    case 'body-timeout':
      return [504, `${server} stopped sending for ${s.idleTimeout} ms`];
    case 'closed':
      return [502, `${server} closed the connection without an answer`];
    case 'invalid':
      return [502, `${server} sent an answer that is not valid HTTP`];
    default:
      return [502, `${server} failed to answer`];
  }
}
