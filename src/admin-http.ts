import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { SwitchyardError } from './errors.js';

/**
 * What the interceptor's and the manager's admin endpoints share: JSON bodies read with a
 * size limit and checked with a schema, errors as
 * `{ "error": { "code": "SY_ERR_…", "message": "…" } }` with the code's HTTP status, and
 * the bodies of the override routes both accept.
 */

/** Largest admin body: a sorry page of 1 MiB in JSON, with room to spare. */
export const MAX_ADMIN_BODY = 1024 * 1024 + 4096;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}

/** One segment of an admin path; a malformed escape is the client's error, not ours. */
export function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new SwitchyardError('SY_ERR_BAD_REQUEST', `"${part.slice(0, 100)}" is not a valid path segment`);
  }
}

export function notFound(what: string): SwitchyardError {
  return new SwitchyardError('SY_ERR_NOT_FOUND', `no admin route ${what}`);
}

export function parseBody<T>(schema: z.ZodType<T>, text: string): T {
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

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_ADMIN_BODY) {
        reject(new SwitchyardError('SY_ERR_BAD_REQUEST', `body larger than ${MAX_ADMIN_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const capacityBody = z.strictObject({ capacity: z.number().min(1).max(10) });
const sorryBody = z.strictObject({
  html: z
    .string()
    .min(1)
    .max(1024 * 1024),
});

/** An operator change as the override routes express it, whichever endpoint received it. */
export type OverrideRequest =
  | {
      target: 'application' | 'server';
      name: string;
      /** Drop this object's earlier overrides first (from an interceptor that was reset alone). */
      reset?: boolean;
      enabled?: boolean;
      capacity?: number;
      sorryPage?: string;
    }
  | { target: 'all'; reset: true };

/**
 * Reads an override route (`POST /servers/NAME/enable`, `PUT /servers/NAME/capacity`,
 * `POST /applications/NAME/disable`, `PUT /applications/NAME/sorry`, `POST /reset`):
 * the change it asks for, or undefined when the path is not one of them.
 */
export async function overrideRoute(req: IncomingMessage): Promise<OverrideRequest | undefined> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const parts = url.pathname.split('/').filter(Boolean).map(decodePart);
  const method = req.method ?? 'GET';
  if (method === 'POST' && parts.length === 1 && parts[0] === 'reset') return { target: 'all', reset: true };
  if (parts.length !== 3) return undefined;
  const [head, name, verb] = parts as [string, string, string];
  const target = head === 'applications' ? 'application' : head === 'servers' ? 'server' : undefined;
  if (!target) return undefined;
  if (method === 'POST' && (verb === 'enable' || verb === 'disable'))
    return { target, name, enabled: verb === 'enable' };
  if (method === 'PUT' && target === 'server' && verb === 'capacity')
    return { target, name, capacity: parseBody(capacityBody, await readBody(req)).capacity };
  if (method === 'PUT' && target === 'application' && verb === 'sorry')
    return { target, name, sorryPage: parseBody(sorryBody, await readBody(req)).html };
  return undefined;
}

/**
 * The refusal of a request without the right admin token, saying where the token is (the
 * file or the variable), never what it is.
 */
export function wrongToken(source: string): SwitchyardError {
  const where = /^[A-Z_]+$/.test(source) ? `the ${source} variable` : source;
  return new SwitchyardError(
    'SY_ERR_UNAUTHORIZED',
    `missing or wrong admin token: send "Authorization: Bearer TOKEN" with the site's token, which is in ${where} (switchyard ctl reads it from there)`,
  );
}
