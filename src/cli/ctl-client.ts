import { readFileSync } from 'node:fs';
import { Agent, fetch, type Response } from 'undici';
import { readToken } from '../config/admin-token.js';
import { loadSite } from '../config/load.js';
import { managerSpeaksTls } from '../config/monitoring-schema.js';
import { managerCa } from '../config/tls-files.js';
import { SwitchyardError } from '../errors.js';

/**
 * How ctl reaches the site: an interceptor's admin endpoint (from --admin or the site file)
 * and, when the site has one, the manager (from --manager or the site file's manager
 * section), where operator overrides live (D25). One token for both: SWITCHYARD_TOKEN or
 * where the interceptor and manager keep it beside the site file.
 */
export interface CtlTarget {
  /** The interceptor's admin endpoint, when known. */
  admin: string | undefined;
  /** The manager's admin endpoint, when the site has a manager. */
  manager: string | undefined;
  token: string | undefined;
  /** The CA the manager's certificate chains to, when it speaks TLS with the site's own (D53). */
  managerCa?: string | undefined;
}

/** One endpoint to call: its base URL and what to call it in messages. */
export interface Endpoint {
  url: string;
  token: string | undefined;
  /** For https: the CA to check the certificate against, else the system's. */
  ca?: string | undefined;
  name: 'interceptor' | 'manager';
}

const loopback = (host: string) =>
  host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;

export function resolveTarget(opts: { config?: string; admin?: string; manager?: string }): CtlTarget {
  const trim = (u: string) => u.replace(/\/+$/, '');
  if (!opts.config) {
    if (!opts.admin && !opts.manager)
      throw new SwitchyardError(
        'SY_ERR_CONFIG',
        'say where the site is: --config site.yaml, --admin http://host:port or --manager http://host:port',
      );
    return {
      admin: opts.admin && trim(opts.admin),
      manager: opts.manager && trim(opts.manager),
      token: readToken(undefined, undefined),
    };
  }
  const site = loadSite(opts.config);
  const { host, port } = site.admin;
  const m = site.site.manager;
  let manager = opts.manager && trim(opts.manager);
  if (!manager && m) {
    if (m.url) {
      const u = new URL(m.url);
      manager = `${u.protocol === 'wss:' ? 'https' : 'http'}://${u.host}`;
    } else {
      const i = m.listen.lastIndexOf(':');
      const scheme = managerSpeaksTls(m) ? 'https' : 'http';
      manager = `${scheme}://${loopback(m.listen.slice(0, i))}:${m.listen.slice(i + 1)}`;
    }
  }
  return {
    admin: opts.admin ? trim(opts.admin) : `http://${loopback(host)}:${port}`,
    manager,
    token: readToken(opts.config, site.site.interceptor.adminTokenFile),
    managerCa: m && manager?.startsWith('https:') ? managerCa(opts.config, m) : undefined,
  };
}

/** The interceptor's endpoint, or a one-line error when ctl was not told where it is. */
export function interceptorOf(t: CtlTarget): Endpoint {
  if (!t.admin)
    throw new SwitchyardError(
      'SY_ERR_CONFIG',
      'this command asks an interceptor: --config site.yaml or --admin http://host:port',
    );
  return { url: t.admin, token: t.token, name: 'interceptor' };
}

/**
 * Makes an operator change where it belongs: at the manager when the site has one, so every
 * interceptor gets it. When the manager cannot be reached, the change is made at the
 * interceptor instead, which applies it at once and passes it on once the manager is back;
 * `note` says so on stderr, since the operator should know.
 */
export async function change(
  t: CtlTarget,
  method: string,
  path: string,
  body: unknown,
  note: (line: string) => void,
): Promise<unknown> {
  if (t.manager) {
    try {
      return await call(
        { url: t.manager, token: t.token, name: 'manager', ca: t.managerCa },
        method,
        path,
        body,
      );
    } catch (e) {
      const code = (e as SwitchyardError).code;
      if (!t.admin || (code !== 'SY_ERR_UNREACHABLE' && code !== 'SY_ERR_TIMEOUT')) throw e;
      note(
        `${(e as Error).message}; made the change at the interceptor (${t.admin}) instead, which passes it on when the manager is back`,
      );
    }
  }
  return call(interceptorOf(t), method, path, body);
}

/** One admin call; throws a SwitchyardError with a one-line reason on any failure. */
export async function call(target: Endpoint, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(target.url + path, {
      ...(target.ca !== undefined ? { dispatcher: new Agent({ connect: { ca: target.ca } }) } : {}),
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
    // A certificate that does not check out is no outage: the change must not go elsewhere.
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|ERR_SSL|ERR_TLS/.test(cause))
      throw new SwitchyardError(
        'SY_ERR_CONFIG',
        `the ${target.name} at ${target.url} has a certificate this machine does not trust (${cause}): check manager.tls.ca, or the site CA in .switchyard/tls/ca.pem`,
      );
    if (cause === 'TimeoutError')
      throw new SwitchyardError(
        'SY_ERR_TIMEOUT',
        `the ${target.name} at ${target.url} did not answer within 10 s`,
      );
    throw new SwitchyardError(
      'SY_ERR_UNREACHABLE',
      `cannot reach the ${target.name}'s admin endpoint at ${target.url} (${cause})`,
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SwitchyardError(
      'SY_ERR_UNREACHABLE',
      `the ${target.name} at ${target.url} answered ${res.status} with something that is not JSON`,
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
      message(err?.message ?? `the ${target.name} answered ${res.status}`),
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
