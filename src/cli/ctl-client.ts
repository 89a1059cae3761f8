import { readFileSync } from 'node:fs';
import { loadSite } from '../config/load.js';
import { SwitchyardError } from '../errors.js';
import { readToken } from '../interceptor/admin-token.js';

/**
 * How ctl reaches an interceptor's admin endpoint: the address from --admin or the site
 * file, the token from SWITCHYARD_TOKEN or where the interceptor keeps it.
 */
export interface CtlTarget {
  admin: string;
  token: string | undefined;
}

export function resolveTarget(opts: { config?: string; admin?: string }): CtlTarget {
  if (opts.admin) {
    return { admin: opts.admin.replace(/\/+$/, ''), token: readToken(opts.config, undefined) };
  }
  if (!opts.config) {
    throw new SwitchyardError(
      'SY_ERR_CONFIG',
      'say where the interceptor is: --config site.yaml or --admin http://host:port',
    );
  }
  const site = loadSite(opts.config);
  const { host, port } = site.admin;
  const h =
    host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return {
    admin: `http://${h}:${port}`,
    token: readToken(opts.config, site.site.interceptor.adminTokenFile),
  };
}

/** One admin call; throws a SwitchyardError with a one-line reason on any failure. */
export async function call(
  target: CtlTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(target.admin + path, {
      method,
      headers: {
        ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
    if (cause === 'TimeoutError')
      throw new SwitchyardError('SY_ERR_TIMEOUT', `${target.admin} did not answer within 10 s`);
    throw new SwitchyardError(
      'SY_ERR_UNREACHABLE',
      `cannot reach the interceptor's admin endpoint at ${target.admin} (${cause})`,
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SwitchyardError(
      'SY_ERR_UNREACHABLE',
      `${target.admin} answered ${res.status} with something that is not JSON`,
    );
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string } }).error;
    if (res.status === 401) {
      throw new SwitchyardError(
        'SY_ERR_UNAUTHORIZED',
        target.token
          ? 'the admin token was refused (check SWITCHYARD_TOKEN)'
          : 'no admin token: set SWITCHYARD_TOKEN or pass --config so ctl can find it',
      );
    }
    // ctl prints one line: a refused reload lists one problem per line, so join them.
    const message = (text: string) => text.split('\n').filter(Boolean).join('; ');
    // A site file the interceptor refused to reload is an invalid site file: exit 2.
    if (err?.code === 'SY_ERR_CONFIG')
      throw new SwitchyardError('SY_ERR_CONFIG', message(err.message ?? 'the site file is invalid'));
    if (res.status === 404)
      throw new SwitchyardError('SY_ERR_NOT_FOUND', message(err?.message ?? 'not found'));
    throw new SwitchyardError(
      'SY_ERR_BAD_REQUEST',
      message(err?.message ?? `the interceptor answered ${res.status}`),
    );
  }
  return json;
}

export function readSorryFile(file: string): string {
  try {
    const buf = readFileSync(file);
    if (buf.length > 1024 * 1024) throw new Error('larger than 1 MiB');
    return buf.toString('utf8');
  } catch (e) {
    throw new SwitchyardError('SY_ERR_BAD_REQUEST', `cannot read "${file}": ${(e as Error).message}`);
  }
}
