import { type Dispatcher, request } from 'undici';
import type { Clock } from '../core/random.js';
import { CHECK_HEADER } from '../protocol/check-header.js';

/**
 * The agent's synthetic check (document 002 section III, "Interaction with Web Server"): it
 * asks a server for a configured test page and verifies the answer, so a page whose database
 * is broken is caught, not only a dead process. The status must match (200 by default) and,
 * when asked, the body must contain a string; only the first `maxBytes` of the body are read
 * (256 KiB by default), so a huge or endless page cannot hold the agent's memory. Redirects
 * are not followed: a test page that redirects is answering something else.
 *
 * Never throws: every failure comes back with a reason an operator can act on, naming the
 * request (credentials in the URL are left out).
 *
 * @example
 * const r = await checkPage({ url: 'http://127.0.0.1:9001/health', contains: 'ok', timeout: 1000 });
 * if (!r.ok) log.warn(r.reason); // e.g. 'GET http://127.0.0.1:9001/health answered 500, expected 200'
 */

export interface PageCheck {
  url: string;
  /** Expected status. Default 200. */
  status?: number;
  /** Text the body must contain (in its first `maxBytes`). */
  contains?: string;
  /** Longest wait for the whole answer, ms. */
  timeout: number;
}

export type CheckResult = { ok: true; ms: number } | { ok: false; ms: number; reason: string };

export interface FetchOptions {
  /** Longest wait for the whole answer, ms. */
  timeout: number;
  /** Body bytes kept; the rest is not read. Default 256 KiB. */
  maxBytes?: number;
  /** Monotonic ms for the timing; default performance.now. */
  clock?: Clock;
  /** Where the request goes; default undici's global dispatcher. */
  dispatcher?: Dispatcher;
}

export type FetchResult =
  | { ok: true; ms: number; status: number; body: Buffer }
  | { ok: false; ms: number; reason: string };

export const DEFAULT_MAX_BYTES = 256 * 1024;

/**
 * One GET on a fresh connection, timed from sending to the last byte read; the body is cut at
 * `maxBytes`. Never throws: a failure is `{ ok: false, reason }` with the request named.
 *
 * @example
 * const r = await fetchPage('http://127.0.0.1:9001/', { timeout: 1000 });
 * if (r.ok) console.log(r.status, r.ms);
 */
export async function fetchPage(url: string, o: FetchOptions): Promise<FetchResult> {
  const clock = o.clock ?? (() => performance.now());
  const limit = o.maxBytes ?? DEFAULT_MAX_BYTES;
  const started = clock();
  const what = `GET ${shown(url)}`;
  const timer = new AbortController();
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    timer.abort();
  }, o.timeout);
  try {
    const res = await request(url, {
      method: 'GET',
      // A fresh connection each time: a check measures connecting too, and a kept-alive
      // socket the server has quietly closed would fail the check for the wrong reason.
      reset: true,
      headers: { [CHECK_HEADER]: 'test-page' },
      signal: timer.signal,
      headersTimeout: o.timeout,
      bodyTimeout: o.timeout,
      ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      const room = limit - size;
      chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      size += Math.min(chunk.length, room);
      if (size >= limit) break;
    }
    // Leaving the loop early destroys the body; the connection goes with it (reset: true).
    return { ok: true, ms: clock() - started, status: res.statusCode, body: Buffer.concat(chunks) };
  } catch (e) {
    const ms = clock() - started;
    if (timedOut) return { ok: false, ms, reason: `${what}: no answer within ${o.timeout} ms` };
    return { ok: false, ms, reason: `${what}: ${explain(e)}` };
  } finally {
    clearTimeout(t);
  }
}

/**
 * Checks one test page: the status (200 unless `status` says otherwise), then `contains`.
 *
 * @example
 * await checkPage({ url: 'http://127.0.0.1:9001/health', status: 204, timeout: 500 }); // { ok: true, ms: 1.3 }
 */
export async function checkPage(
  spec: PageCheck,
  o: Omit<FetchOptions, 'timeout'> = {},
): Promise<CheckResult> {
  const r = await fetchPage(spec.url, { ...o, timeout: spec.timeout });
  if (!r.ok) return r;
  const expected = spec.status ?? 200;
  if (r.status !== expected)
    return {
      ok: false,
      ms: r.ms,
      reason: `GET ${shown(spec.url)} answered ${r.status}, expected ${expected}`,
    };
  if (spec.contains !== undefined && !r.body.toString('utf8').includes(spec.contains)) {
    const limit = o.maxBytes ?? DEFAULT_MAX_BYTES;
    const where = r.body.length >= limit ? ` (first ${limit} bytes read)` : '';
    return {
      ok: false,
      ms: r.ms,
      reason: `GET ${shown(spec.url)}: body does not contain ${JSON.stringify(spec.contains)}${where}`,
    };
  }
  return { ok: true, ms: r.ms };
}

/** The URL as an operator may see it: no user name or password. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === '' && u.password === '') return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return JSON.stringify(url.slice(0, 200));
  }
}

const CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connecting timed out',
  EPIPE: 'connection closed by the server while sending',
  UND_ERR_SOCKET: 'connection closed by the server before the answer was complete',
  UND_ERR_CLOSED: 'connection closed by the server before the answer was complete',
  UND_ERR_HEADERS_OVERFLOW: 'answer headers too large',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH:
    'connection closed before the answer was complete (body shorter than its Content-Length)',
  ERR_INVALID_URL: 'not a valid URL',
  ERR_INVALID_ARG_TYPE: 'not a valid URL',
  UND_ERR_INVALID_ARG: 'not a valid request',
  HPE_INVALID_CONSTANT: 'the answer is not HTTP',
};

/** A failure in words; unknown errors keep their own message, cut to one line. */
function explain(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown; cause?: { code?: unknown } } | undefined;
  const code = typeof err?.code === 'string' ? err.code : err?.cause?.code;
  if (typeof code === 'string' && CODES[code]) return CODES[code];
  const message = typeof err?.message === 'string' ? err.message : String(e);
  return (message.split('\n')[0] ?? '').slice(0, 200) || 'request failed';
}
