/**
 * The request target, read the same way wherever a Location is built from it (D6): by the
 * interceptor and by the web server interface, which lives in the application's process and
 * so imports nothing heavier than this.
 */

/**
 * The host of a Host header, lower-case, without port; '' when absent or malformed.
 *
 * @example
 * hostOf('Example.COM:8080'); // 'example.com'
 */
export function hostOf(header: string | undefined): string {
  if (!header) return '';
  let h = header;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? '' : h.slice(0, end + 1).toLowerCase();
  }
  const colon = h.indexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  return /^[A-Za-z0-9.-]{1,253}$/.test(h) ? h.toLowerCase() : '';
}

/** The path and query of a target, with absolute-form reduced to origin-form. */
export interface Target {
  host: string;
  /** Path and query, origin-form, safe to put in a header. */
  pathAndQuery: string;
  path: string;
}

/**
 * Splits and sanitises a request target. Absolute-form ("http://host/x") is accepted only
 * for the host the Host header names; anything else is refused (undefined).
 */
export function parseTarget(url: string, hostHeader: string | undefined): Target | undefined {
  let host = hostOf(hostHeader);
  let pq = url;
  if (url.charCodeAt(0) !== 47) {
    // Not origin-form: absolute-form for our own host, or nothing.
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return undefined;
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname.toLowerCase() !== host)
      return undefined;
    host = u.hostname.toLowerCase();
    pq = u.pathname + u.search;
  }
  pq = safePath(pq);
  const q = pq.indexOf('?');
  return { host, pathAndQuery: pq, path: q < 0 ? pq : pq.slice(0, q) };
}

/**
 * Percent-encodes everything that may not stand in a Location header's path or that is not
 * valid in a URI: controls, space, `"<>\\^`{|}`, `#`, non-ASCII (as UTF-8; Node's parser already refuses raw non-ASCII
 * bytes, so only in-process callers pass it), and a second leading slash that would make
 * "//evil.example" a scheme-relative URL should a base ever be empty. The fast path
 * allocates nothing.
 */
export function safePath(pq: string): string {
  if (!UNSAFE.test(pq)) return pq;
  let out = '';
  for (const ch of pq) {
    const c = ch.codePointAt(0)!;
    if (c > 0x20 && c < 0x7f && !UNSAFE_ASCII.includes(ch)) out += ch;
    else if (c < 0x80) out += `%${c.toString(16).toUpperCase().padStart(2, '0')}`;
    else out += encodeWide(ch);
  }
  if (out.startsWith('//')) out = `/%2F${out.slice(2)}`;
  return out;
}

const UNSAFE_ASCII = '"<>\\^`{|}#';
const UNSAFE = /[^\x21-\x7e]|["<>\\^`{|}#]|^\/\//;

/** A non-ASCII character as UTF-8, or U+FFFD for a lone surrogate (which encodeURIComponent refuses). */
function encodeWide(ch: string): string {
  try {
    return encodeURIComponent(ch);
  } catch {
    return '%EF%BF%BD';
  }
}
