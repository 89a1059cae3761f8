import { type IncomingMessage, ServerResponse } from 'node:http';
import type { BlockList, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Counter } from 'prom-client';
import { maxConcurrentOf } from '../config/schema.js';
import type { Clock, Random } from '../core/random.js';
import { ERROR_CODES } from '../errors.js';
import type { Gateway } from '../gateway/gateway.js';
import type { Logger } from '../log/logger.js';
import { decideForApp, movedFrom, parseTarget } from './decide.js';
import { type InterceptorMetrics, REFUSAL_REASONS, type RefusalReason } from './metrics.js';
import type { AppState, SiteState } from './site-state.js';

/**
 * The request handler: reads the few facts a decision needs, calls decide, writes the
 * answer and counts it. It keeps to what is cheap on the hot path: no URL objects for
 * origin-form targets, cached metric children, the access log sampled (off by default).
 */

export interface HandlerContext {
  state(): SiteState;
  clock: Clock;
  random: Random;
  metrics: InterceptorMetrics;
  log: Logger;
  trustedProxies: () => BlockList | undefined;
  /** Carries the requests of applications in proxy mode (issue 30). */
  gateway: Gateway;
}

/** Refusal bodies, made once: a refusal must stay cheap when someone floods us with them. */
const REFUSAL_BODIES = new Map<RefusalReason, Buffer>(
  REFUSAL_REASONS.map((r) => [r, Buffer.from(`${ERROR_CODES[reasonCode(r)].text}\n`)]),
);

const BUILTIN_SORRY = Buffer.from(
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title></head>' +
    '<body><h1>This site is temporarily unavailable</h1><p>Please try again in a few minutes.</p></body></html>\n',
);

export function createHandler(ctx: HandlerContext): (req: IncomingMessage, res: ServerResponse) => void {
  const refusal = new Map<RefusalReason, Counter.Internal>(
    REFUSAL_REASONS.map((r) => [r, ctx.metrics.refusals.labels(r)]),
  );
  const count = (app: string, server: string, status: number) => {
    ctx.metrics.requestTally.cell(`${app}\u0000${server}\u0000${status}`, () => ({
      application: app,
      server,
      status: String(status),
    })).n++;
  };
  const refuse = (
    res: ServerResponse,
    reason: RefusalReason,
    status: number,
    app: string,
    retryAfter?: number,
  ) => {
    refusal.get(reason)!.inc();
    count(app, '-', status);
    const headers: Record<string, string> = {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
    };
    if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
    const body = REFUSAL_BODIES.get(reason)!;
    headers['content-length'] = String(body.length);
    res.writeHead(status, headers);
    res.end(body);
  };

  /**
   * A response that could not be flushed at once (slow client, large sorry page, a proxied
   * answer) keeps a slot of the application's concurrency limit until it is done.
   */
  const holdOrCut = (app: AppState, req: IncomingMessage, res: ServerResponse) => {
    if (res.writableFinished) return;
    const waiting = hold(app, req, res);
    // HTTP/2 streams share one connection by design, each with its own flow control: their
    // number is the client's to choose (up to maxConcurrentStreams), not pipelining.
    if (req.httpVersionMajor !== 2 && waiting > ctx.state().site.interceptor.maxPipelined) {
      // A client that queues answers it does not read holds slots of every application it
      // reaches: past maxPipelined it is cut, and its slots come back at once (issue 29).
      refusal.get('pipelined')!.inc();
      req.socket.destroy();
    }
  };

  return (req, res) => {
    // A connection cut for pipelining still hands over every request already parsed from its
    // last read (a 64 KiB read holds about 1,500): nobody will read their answers, and each
    // would take a slot until the close frees them all.
    if (req.socket.destroyed) return;
    const state = ctx.state();
    const ic = state.site.interceptor;
    const url = req.url ?? '/';
    if (url.length > ic.maxUrlLength) return refuse(res, 'uri-too-long', 414, '-');
    // Read from rawHeaders: a second Host header (a request smuggling trick) must be refused,
    // and req.headers keeps only the first.
    const raw = req.rawHeaders;
    // HTTP/2 names the host in :authority (RFC 9113 §8.3.1), HTTP/1.1 in Host.
    const host =
      rawHeader(raw, 'host') ?? (req.httpVersionMajor === 2 ? rawHeader(raw, ':authority') : undefined);
    if (host === DUPLICATE) return refuse(res, 'bad-request', 400, '-');
    const target = parseTarget(url, host);
    if (!target) return refuse(res, 'bad-request', 400, '-');
    const app = state.matcher.match(target.host, target.path);
    if (!app) return refuse(res, 'no-application', 404, '-');
    if (app.inFlight >= maxConcurrentOf(app.config))
      return refuse(res, 'overloaded', 503, app.name, ic.retryAfter);

    const now = ctx.clock();
    const trusted = ctx.trustedProxies();
    const secure = isSecure(req, trusted);
    if (app.config.mode === 'proxy') {
      if (!app.enabled) {
        sendSorry(app, res, 'disabled', ic.retryAfter);
        refusal.get('app-disabled')!.inc();
        count(app.name, '-', 503);
      } else ctx.gateway.forward(req, res, app, target, secure, fromTrustedProxy(req, trusted));
      holdOrCut(app, req, res);
      return;
    }
    const d = decideForApp(
      app,
      target,
      {
        method: req.method ?? 'GET',
        url,
        host,
        secure,
        cookie: app.config.affinity === 'cookie' ? firstOf(rawHeader(raw, 'cookie')) : undefined,
      },
      now,
      ctx.random,
      movedFrom(state, app, target),
    );
    if (d.kind === 'redirect') {
      const server = app.servers[d.server]!;
      // The flat-array form skips Node's walk over an object's keys.
      res.writeHead(
        d.status,
        d.setCookie
          ? ['location', d.location, 'content-length', '0', 'set-cookie', d.setCookie]
          : ['location', d.location, 'content-length', '0'],
      );
      res.end();
      count(app.name, server.name, d.status);
      ctx.metrics.pickTally.cell(server.name, () => ({ server: server.name })).n++;
      if (ic.accessLogSample > 0 && ctx.random() < ic.accessLogSample) {
        ctx.log.info(
          { app: app.name, server: server.name, status: d.status, method: req.method, path: target.path },
          'redirect',
        );
      }
    } else if (d.kind === 'sorry') {
      sendSorry(app, res, d.reason, ic.retryAfter);
      refusal.get(d.reason === 'disabled' ? 'app-disabled' : 'no-server')!.inc();
      count(app.name, '-', 503);
    } else {
      refuse(res, 'bad-request', ERROR_CODES[d.code].status, app.name);
      return;
    }
    holdOrCut(app, req, res);
  };
}

/**
 * Requests that ask to switch protocols (WebSocket). For an application in proxy mode the
 * gateway carries the upgrade through (D54); any other is answered as the same request
 * without the upgrade would be (a redirect, a refusal, a sorry page), on a connection then
 * closed.
 */
export function createUpgradeHandler(
  ctx: HandlerContext,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, socket: Socket, head: Buffer) => void {
  return (req, socket, head) => {
    const state = ctx.state();
    const ic = state.site.interceptor;
    const url = req.url ?? '/';
    const host = rawHeader(req.rawHeaders, 'host');
    const target = url.length <= ic.maxUrlLength && host !== DUPLICATE ? parseTarget(url, host) : undefined;
    const app = target ? state.matcher.match(target.host, target.path) : undefined;
    if (
      !app ||
      !target ||
      app.config.mode !== 'proxy' ||
      !app.enabled ||
      app.inFlight >= maxConcurrentOf(app.config)
    ) {
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket);
      res.once('finish', () => socket.end());
      handle(req, res);
      return;
    }
    // The tunnel holds a slot of the application's concurrency for as long as it lasts.
    app.inFlight++;
    socket.once('close', () => app.inFlight--);
    const trusted = ctx.trustedProxies();
    ctx.gateway.tunnel(
      req,
      socket,
      head,
      app,
      target,
      isSecure(req, trusted),
      fromTrustedProxy(req, trusted),
    );
  };
}

// Responses queued behind others on a pipelining connection never get a 'close' of their
// own when the client goes away, so the connection's close releases them too; without it
// their slots would be lost for good and the application would answer 503 forever.
const held = new WeakMap<Socket, Set<() => void>>();

/** Answers a connection has not finished sending (held slots). */
export function pendingAnswers(socket: Socket): number {
  return held.get(socket)?.size ?? 0;
}

/** Keeps a slot until the answer is sent; gives how many answers its connection has waiting. */
function hold(app: AppState, req: IncomingMessage, res: ServerResponse): number {
  const socket = req.socket;
  let releases = held.get(socket);
  if (!releases) {
    const set = new Set<() => void>();
    held.set(socket, set);
    socket.once('close', () => {
      for (const release of set) release();
    });
    releases = set;
  }
  const mine = releases;
  const release = () => {
    if (mine.delete(release)) app.inFlight--;
  };
  mine.add(release);
  app.inFlight++;
  res.once('close', release);
  return mine.size;
}

/** Returned by rawHeader when a header that must be single appears twice. */
const DUPLICATE = '\u0000duplicate';

/**
 * The value of header `name` (lower-case) from rawHeaders, undefined when absent, DUPLICATE
 * when it appears more than once (two Host headers are a request smuggling trick: 400).
 */
function rawHeader(raw: string[], name: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.length === name.length && k.toLowerCase() === name) {
      if (found !== undefined) return DUPLICATE;
      found = raw[i + 1];
    }
  }
  return found;
}

function firstOf(v: string | undefined): string | undefined {
  return v === DUPLICATE ? undefined : v;
}

function sendSorry(
  app: AppState,
  res: ServerResponse,
  reason: 'disabled' | 'no-server',
  retryAfter: number,
): void {
  const body = app.sorryPage ?? BUILTIN_SORRY;
  res.writeHead(503, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(body.length),
    'retry-after': String(retryAfter),
    'cache-control': 'no-store',
    'x-switchyard-reason': reason === 'disabled' ? 'application disabled' : 'no server available',
  });
  res.end(body);
}

function reasonCode(reason: RefusalReason) {
  switch (reason) {
    case 'uri-too-long':
      return 'SY_ERR_URI_TOO_LONG' as const;
    case 'no-application':
      return 'SY_ERR_NO_APPLICATION' as const;
    case 'overloaded':
      return 'SY_ERR_OVERLOADED' as const;
    case 'no-server':
      return 'SY_ERR_NO_SERVER' as const;
    case 'app-disabled':
      return 'SY_ERR_APP_DISABLED' as const;
    default:
      return 'SY_ERR_BAD_REQUEST' as const;
  }
}

/** Whether the peer is one of interceptor.trustedProxies, whose forwarding headers count (D5). */
export function fromTrustedProxy(req: IncomingMessage, trusted: BlockList | undefined): boolean {
  if (!trusted) return false;
  const addr = req.socket.remoteAddress;
  if (!addr) return false;
  const family = addr.includes(':') ? (addr.startsWith('::ffff:') ? 'ipv4' : 'ipv6') : 'ipv4';
  const plain = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return trusted.check(plain, family);
}

/**
 * Whether the request arrived over TLS: on a TLS listener, or from a trusted proxy that says
 * so in X-Forwarded-Proto or Forwarded. Headers from anyone else are ignored.
 */
export function isSecure(req: IncomingMessage, trusted: BlockList | undefined): boolean {
  if ((req.socket as TLSSocket).encrypted) return true;
  if (!fromTrustedProxy(req, trusted)) return false;
  const xfp = req.headers['x-forwarded-proto'];
  if (typeof xfp === 'string') return xfp.split(',')[0]!.trim().toLowerCase() === 'https';
  const fwd = req.headers.forwarded;
  if (typeof fwd === 'string') {
    const first = fwd.split(',')[0]!;
    const m = /(?:^|;)\s*proto=("?)(https?)\1\s*(?:;|$)/i.exec(first);
    return m !== null && m[2]!.toLowerCase() === 'https';
  }
  return false;
}
