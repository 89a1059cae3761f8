import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The mark a redirected request carries, so it is never bounced again: when an interface
 * sends a user away from a busy server, the Location gets `sy_from=SERVER~EXPIRES~MAC`. The
 * interface that receives it strips it before the application sees the request and serves
 * it whatever its own redirect state; an interceptor that receives it leaves SERVER out of
 * the pick. The MAC (HMAC-SHA256 with the site's mark key (D52), 128 bits) and the expiry
 * (wall-clock seconds, short-lived) mean a user cannot forge a mark to pin or avoid servers.
 *
 * @example
 * const m = makeMark(secret, 'web-a', Date.now(), 30_000);
 * readMark(secret, m, Date.now()); // { from: 'web-a' }
 */

export const MARK_PARAM = 'sy_from';
export const DEFAULT_MARK_TTL = 30_000;

function mac(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest().subarray(0, 16).toString('base64url');
}

export function makeMark(secret: string, from: string, nowMs: number, ttlMs = DEFAULT_MARK_TTL): string {
  const body = `${from}~${Math.ceil((nowMs + ttlMs) / 1000)}`;
  return `${body}~${mac(secret, body)}`;
}

/** The server a valid, unexpired mark names; undefined for anything else. */
export function readMark(secret: string, mark: string, nowMs: number): { from: string } | undefined {
  const m = /^([A-Za-z0-9][A-Za-z0-9._-]{0,62})~(\d{1,12})~([A-Za-z0-9_-]{22})$/.exec(mark);
  if (!m) return undefined;
  if (Number(m[2]) * 1000 < nowMs) return undefined;
  const want = Buffer.from(mac(secret, `${m[1]}~${m[2]}`));
  const got = Buffer.from(m[3]!);
  if (!timingSafeEqual(want, got)) return undefined;
  return { from: m[1]! };
}

const MARK_PREFIX = `${MARK_PARAM}=`;

/**
 * Whether a path-and-query may carry a mark: cheap, for every request; stripMark then says
 * for sure. Most requests carry none, and need neither its work nor its allocations.
 */
export function mayHaveMark(pathAndQuery: string): boolean {
  const q = pathAndQuery.indexOf('?');
  return q >= 0 && pathAndQuery.includes(MARK_PREFIX, q);
}

/**
 * Takes the mark out of a path-and-query, leaving every other byte as it was.
 *
 * @example
 * stripMark('/a?x=1&sy_from=web-a~1~abc&y=2'); // { pathAndQuery: '/a?x=1&y=2', mark: 'web-a~1~abc' }
 */
export function stripMark(pathAndQuery: string): { pathAndQuery: string; mark: string | undefined } {
  const q = pathAndQuery.indexOf('?');
  if (!mayHaveMark(pathAndQuery)) return { pathAndQuery, mark: undefined };
  let mark: string | undefined;
  const kept = pathAndQuery
    .slice(q + 1)
    .split('&')
    .filter((part) => {
      if (!part.startsWith(MARK_PREFIX)) return true;
      mark ??= part.slice(MARK_PARAM.length + 1);
      return false;
    });
  const path = pathAndQuery.slice(0, q);
  return { pathAndQuery: kept.length > 0 ? `${path}?${kept.join('&')}` : path, mark };
}

/** Appends the mark to a path-and-query. */
export function addMark(pathAndQuery: string, mark: string): string {
  return `${pathAndQuery}${pathAndQuery.includes('?') ? '&' : '?'}${MARK_PARAM}=${mark}`;
}

/**
 * The header a gateway puts on every request it carries (D54): an interface never redirects
 * such a request, since its client (an API client, the gateway itself) would get a 302 it
 * did not ask for, and the gateway has chosen this server already. The token is an HMAC under
 * the mark key of the current minute, so it is made once a minute, checked with one
 * comparison, and a client cannot forge it.
 */
export const GATEWAY_HEADER = 'x-switchyard-gateway';
const GATEWAY_WINDOW = 60_000;

export function gatewayToken(secret: string, nowMs: number): string {
  const w = Math.floor(nowMs / GATEWAY_WINDOW);
  return `${w}~${mac(secret, `gateway~${w}`)}`;
}

/** Whether a token is a gateway's, of this minute or the one before or after (clock skew). */
export function isGatewayToken(secret: string, token: string, nowMs: number): boolean {
  const w = Math.floor(nowMs / GATEWAY_WINDOW);
  for (const at of [w, w - 1, w + 1]) {
    const want = Buffer.from(gatewayToken(secret, at * GATEWAY_WINDOW));
    const got = Buffer.from(token);
    if (want.length === got.length && timingSafeEqual(want, got)) return true;
  }
  return false;
}
