import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { SwitchyardError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { tokenMatches } from './admin-token.js';
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

const MAX_BODY = 1024 * 1024 + 4096;
const capacityBody = z.strictObject({ capacity: z.number().min(1).max(10) });
const sorryBody = z.strictObject({
  html: z
    .string()
    .min(1)
    .max(1024 * 1024),
});

export function createAdminServer(
  actions: AdminActions,
  token: () => string,
  metrics: InterceptorMetrics,
  log: Logger,
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
    const text = `${JSON.stringify(body, null, 2)}\n`;
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(text);
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
      throw new SwitchyardError('SY_ERR_UNAUTHORIZED');
    }
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const [head, name, verb] = parts;
    if (method === 'GET' && url.pathname === '/status') return send(res, 200, actions.status());
    if (method === 'GET' && url.pathname === '/explain') {
      const target = url.searchParams.get('url');
      if (!target) throw new SwitchyardError('SY_ERR_BAD_REQUEST', 'explain needs ?url=');
      const host = url.searchParams.get('host') ?? '';
      return send(res, 200, actions.explain(target, host, url.searchParams.get('secure') === '1'));
    }
    if (method === 'POST' && parts.length === 1) {
      if (head === 'reload') {
        const r = actions.reload();
        return r.ok
          ? send(res, 200, r)
          : send(res, 422, { error: { code: 'SY_ERR_CONFIG', message: r.error } });
      }
      if (head === 'reset') {
        actions.reset();
        return send(res, 200, { ok: true });
      }
      if (head === 'shutdown') {
        send(res, 202, { ok: true, message: 'shutting down' });
        setImmediate(() => actions.shutdown());
        return;
      }
    }
    if (parts.length === 3 && name !== undefined) {
      if (method === 'POST' && (verb === 'enable' || verb === 'disable')) {
        if (head === 'applications') actions.setAppEnabled(name, verb === 'enable');
        else if (head === 'servers') actions.setServerEnabled(name, verb === 'enable');
        else throw notFound(url.pathname);
        return send(res, 200, { ok: true });
      }
      if (method === 'PUT' && head === 'servers' && verb === 'capacity') {
        const body = parseBody(capacityBody, await readBody(req));
        actions.setCapacity(name, body.capacity);
        return send(res, 200, { ok: true });
      }
      if (method === 'PUT' && head === 'applications' && verb === 'sorry') {
        const body = parseBody(sorryBody, await readBody(req));
        actions.setSorryPage(name, Buffer.from(body.html));
        return send(res, 200, { ok: true });
      }
    }
    throw notFound(`${method} ${url.pathname}`);
  }

  return server;
}

function notFound(what: string): SwitchyardError {
  return new SwitchyardError('SY_ERR_NOT_FOUND', `no admin route ${what}`);
}

function parseBody<T>(schema: z.ZodType<T>, text: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SwitchyardError('SY_ERR_BAD_REQUEST', 'the body is not JSON');
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new SwitchyardError('SY_ERR_BAD_REQUEST', `${i.path.join('.') || 'body'}: ${i.message}`);
  }
  return r.data;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new SwitchyardError('SY_ERR_BAD_REQUEST', `body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
