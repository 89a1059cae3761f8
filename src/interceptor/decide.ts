import type { Random } from '../core/random.js';
import type { ErrorCode } from '../errors.js';
import { MARK_PARAM, readMark } from '../protocol/redirect-mark.js';
import { parseTarget, type Target } from '../protocol/request-target.js';
import type { AppState, SiteState } from './site-state.js';

/**
 * What to answer one request: the FIG. 2 flow as a function, testable without sockets.
 * It moves the referral counters of the chosen server (that is what a pick is), nothing else.
 *
 * @example
 * const d = decide(state, { method: 'GET', url: '/x', host: 'shop.example', secure: false }, now, Math.random);
 * if (d.kind === 'redirect') res.writeHead(d.status, { location: d.location });
 */

export interface RequestFacts {
  method: string;
  /** The request target as received (origin-form or absolute-form). */
  url: string;
  /** The Host header. */
  host: string | undefined;
  /** Arrived over TLS, directly or through a trusted proxy. */
  secure: boolean;
  /** The Cookie header, for affinity. */
  cookie?: string | undefined;
}

export type Decision =
  | {
      kind: 'redirect';
      status: number;
      location: string;
      app: AppState;
      server: number;
      /** Set-Cookie value for affinity, when one must be sent. */
      setCookie: string | undefined;
    }
  | { kind: 'sorry'; app: AppState; reason: 'disabled' | 'no-server' }
  | { kind: 'error'; code: ErrorCode; app: AppState | undefined };

export { parseTarget, safePath, type Target } from '../protocol/request-target.js';

/** The affinity cookie's value when it names one of the app's servers. */
export function cookieServer(cookie: string | undefined, name: string, app: AppState): number | undefined {
  if (!cookie) return undefined;
  const key = `${name}=`;
  let at = cookie.indexOf(key);
  while (at > 0 && cookie.charCodeAt(at - 1) !== 32 && cookie.charCodeAt(at - 1) !== 59) {
    at = cookie.indexOf(key, at + 1);
  }
  if (at < 0) return undefined;
  const start = at + key.length;
  let end = cookie.indexOf(';', start);
  if (end < 0) end = cookie.length;
  return app.serverIndex.get(cookie.slice(start, end).trim());
}

export function decide(state: SiteState, req: RequestFacts, now: number, random: Random): Decision {
  const target = parseTarget(req.url, req.host);
  if (!target) return { kind: 'error', code: 'SY_ERR_BAD_REQUEST', app: undefined };
  const app = state.matcher.match(target.host, target.path);
  if (!app) return { kind: 'error', code: 'SY_ERR_NO_APPLICATION', app: undefined };
  return decideForApp(app, target, req, now, random, movedFrom(state, app, target));
}

/**
 * The server a request was moved away from, when it carries a valid redirect mark: the pick
 * leaves that server out, so two busy servers never bounce a user between them. The mark
 * stays in the Location, so the next server's interface knows not to move it again.
 */
export function movedFrom(state: SiteState, app: AppState, target: Target): number | undefined {
  if (state.markSecret === undefined || !target.pathAndQuery.includes(`${MARK_PARAM}=`)) return undefined;
  const q = target.pathAndQuery.indexOf('?');
  for (const part of target.pathAndQuery.slice(q + 1).split('&')) {
    if (!part.startsWith(`${MARK_PARAM}=`)) continue;
    const m = readMark(state.markSecret, part.slice(MARK_PARAM.length + 1), Date.now());
    return m ? app.serverIndex.get(m.from) : undefined;
  }
  return undefined;
}

export function decideForApp(
  app: AppState,
  target: Target,
  req: RequestFacts,
  now: number,
  random: Random,
  exclude?: number,
): Decision {
  if (!app.enabled) return { kind: 'sorry', app, reason: 'disabled' };
  const cfg = app.config;
  const secure = req.secure || cfg.secure;
  const affinity = cfg.affinity === 'cookie';
  const prefer = affinity ? cookieServer(req.cookie, cfg.affinityCookie, app) : undefined;
  const server = app.pool.pick(now, random, { secureOnly: secure, prefer, exclude });
  if (server < 0) return { kind: 'sorry', app, reason: 'no-server' };
  app.servers[server]!.referrals++;
  const base = app.bases[server]!;
  const origin = secure ? base[1]! : (base[0] ?? base[1]!);
  const isGet = req.method === 'GET' || req.method === 'HEAD';
  const status = isGet ? cfg.redirectStatus : 307;
  let setCookie: string | undefined;
  if (affinity && prefer !== server) {
    const name = app.servers[server]!.name;
    setCookie = `${cfg.affinityCookie}=${name}; Path=${app.cookiePath}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
  }
  return { kind: 'redirect', status, location: origin + target.pathAndQuery, app, server, setCookie };
}
