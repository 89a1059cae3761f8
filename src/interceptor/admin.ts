import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { notFound, overrideRoute, sendJson, wrongToken } from '../admin-http.js';
import { tokenMatches } from '../config/admin-token.js';
import { SwitchyardError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { InterceptorMetrics } from './metrics.js';
import type { ExplainView, StatusView } from './views.js';

/**
 * The admin endpoint: what `switchyard ctl` talks to. JSON in and out; every route but
 * /metrics and /healthz needs `Authorization: Bearer <token>`. Errors are
 * `{ "error": { "code": "SY_ERR_…", "message": "…" } }` with the code's HTTP status.
 *
 * Routes:
 *   GET  /status                         GET /explain?url=/path&host=H&secure=1
 *   POST /applications/NAME/enable|disable
 *   POST /servers/NAME/enable|disable    PUT /servers/NAME/capacity  {"capacity": 1..10}
 *   PUT  /applications/NAME/sorry        {"html": "..."}
 *   POST /reload   POST /reset   POST /shutdown
 */

export interface AdminActions {
  status(): StatusView;
  explain(url: string, host: string, secure: boolean): ExplainView;
  setAppEnabled(name: string, enabled: boolean): void;
  setServerEnabled(name: string, enabled: boolean): void;
  setCapacity(name: string, capacity: number): void;
  setSorryPage(name: string, html: Buffer): void;
  reload(): { ok: true } | { ok: false; error: string };
  reset(): void;
  shutdown(): void;
}

export function createAdminServer(
  actions: AdminActions,
  token: () => string,
  metrics: InterceptorMetrics,
  log: Logger,
  /** Where the token is, for the refusal's words. */
  tokenSource: () => string = () => 'the admin token file beside the site file',
): Server {
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    void route(req, res).catch((e: unknown) => {
      if (e instanceof SwitchyardError)
        return send(res, e.status, { error: { code: e.code, message: e.message } });
      log.error({ err: e }, 'admin request failed');
      send(res, 500, {
        error: { code: 'SY_ERR_INTERNAL', message: 'internal error; see the interceptor log' },
      });
    });
  });

  const send = (res: ServerResponse, status: number, body: unknown) => {
    metrics.adminRequests.labels(String(status)).inc();
    sendJson(res, status, body);
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const method = req.method ?? 'GET';
    if (url.pathname === '/metrics' && method === 'GET') {
      const text = await metrics.registry.metrics();
      metrics.adminRequests.labels('200').inc();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (url.pathname === '/healthz') return send(res, 200, { ok: true });
    if (!tokenMatches(req.headers.authorization, token())) {
      log.warn(
        { remote: req.socket.remoteAddress, path: url.pathname },
        'admin request refused: missing or wrong token',
      );
      throw wrongToken(tokenSource());
    }
    if (method === 'GET' && url.pathname === '/status') return send(res, 200, actions.status());
    if (method === 'GET' && url.pathname === '/explain') {
      const target = url.searchParams.get('url');
      if (!target) throw new SwitchyardError('SY_ERR_BAD_REQUEST', 'explain needs ?url=');
      const host = url.searchParams.get('host') ?? '';
      return send(res, 200, actions.explain(target, host, url.searchParams.get('secure') === '1'));
    }
    if (method === 'POST' && url.pathname === '/reload') {
      const r = actions.reload();
      return r.ok
        ? send(res, 200, r)
        : send(res, 422, { error: { code: 'SY_ERR_CONFIG', message: r.error } });
    }
    if (method === 'POST' && url.pathname === '/shutdown') {
      send(res, 202, { ok: true, message: 'shutting down' });
      setImmediate(() => actions.shutdown());
      return;
    }
    const o = await overrideRoute(req);
    if (o) {
      if (o.target === 'all') actions.reset();
      else if (o.target === 'application') {
        if (o.enabled !== undefined) actions.setAppEnabled(o.name, o.enabled);
        if (o.sorryPage !== undefined) actions.setSorryPage(o.name, Buffer.from(o.sorryPage));
      } else {
        if (o.enabled !== undefined) actions.setServerEnabled(o.name, o.enabled);
        if (o.capacity !== undefined) actions.setCapacity(o.name, o.capacity);
      }
      return send(res, 200, { ok: true });
    }
    throw notFound(`${method} ${url.pathname}`);
  }

  return server;
}
