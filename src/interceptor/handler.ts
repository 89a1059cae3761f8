import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlockList, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Counter } from 'prom-client';
import type { Clock, Random } from '../core/random.js';
import { ERROR_CODES } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { decideForApp, parseTarget } from './decide.js';
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
  // Per (app, server, status) counter children, cached on first use.
  const children = new Map<string, Counter.Internal>();
  const picks = new Map<string, Counter.Internal>();
  const count = (app: string, server: string, status: number) => {
    const key = `${app}\u0000${server}\u0000${status}`;
    let c = children.get(key);
    if (!c) {
      c = ctx.metrics.requests.labels(app, server, String(status));
      children.set(key, c);
    }
    c.inc();
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

  return (req, res) => {
    const state = ctx.state();
    const ic = state.site.interceptor;
    const url = req.url ?? '/';
    if (url.length > ic.maxUrlLength) return refuse(res, 'uri-too-long', 414, '-');
    const target = parseTarget(url, req.headers.host);
    if (!target) return refuse(res, 'bad-request', 400, '-');
    const app = state.matcher.match(target.host, target.path);
    if (!app) return refuse(res, 'no-application', 404, '-');
    if (app.inFlight >= app.config.maxConcurrent)
      return refuse(res, 'overloaded', 503, app.name, ic.retryAfter);

    const now = ctx.clock();
    const secure = isSecure(req, ctx.trustedProxies());
    const d = decideForApp(
      app,
      target,
      { method: req.method ?? 'GET', url, host: req.headers.host, secure, cookie: req.headers.cookie },
      now,
      ctx.random,
    );
    if (d.kind === 'redirect') {
      const server = app.servers[d.server]!;
      const headers: Record<string, string> = { location: d.location, 'content-length': '0' };
      if (d.setCookie) headers['set-cookie'] = d.setCookie;
      res.writeHead(d.status, headers);
      res.end();
      count(app.name, server.name, d.status);
      let p = picks.get(server.name);
      if (!p) {
        p = ctx.metrics.picks.labels(server.name);
        picks.set(server.name, p);
      }
      p.inc();
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
    // A response that could not be flushed at once (slow client, large sorry page) keeps a
    // slot of the application's concurrency limit until it is done.
    if (!res.writableFinished) hold(app, req, res);
  };
}

// Responses queued behind others on a pipelining connection never get a 'close' of their
// own when the client goes away, so the connection's close releases them too; without it
// their slots would be lost for good and the application would answer 503 forever.
const held = new WeakMap<Socket, Set<() => void>>();

function hold(app: AppState, req: IncomingMessage, res: ServerResponse): void {
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

/**
 * Whether the request arrived over TLS: on a TLS listener, or from a trusted proxy that says
 * so in X-Forwarded-Proto or Forwarded. Headers from anyone else are ignored.
 */
export function isSecure(req: IncomingMessage, trusted: BlockList | undefined): boolean {
  if ((req.socket as TLSSocket).encrypted) return true;
  if (!trusted) return false;
  const addr = req.socket.remoteAddress;
  if (!addr) return false;
  const family = addr.includes(':') ? (addr.startsWith('::ffff:') ? 'ipv4' : 'ipv6') : 'ipv4';
  const plain = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  if (!trusted.check(plain, family)) return false;
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
