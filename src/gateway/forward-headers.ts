/**
 * The headers a gateway passes on (RFC 9110 §7.6): hop-by-hop fields stay on their own hop,
 * with every field the Connection header names; the client's address, scheme and host go to
 * the server in X-Forwarded-For/-Proto/-Host and Forwarded, believed from the client only when
 * it is a configured proxy (D5); Via names this hop both ways; a request id is passed on, or
 * made. Headers are kept as Node's flat raw arrays, in order and with their case.
 *
 * @example
 * requestHeaders(req.rawHeaders, { client: '10.0.0.7', trusted: false, secure: false, host: 'shop.example', requestId: 'r1' });
 */

/** Fields that are about one connection only (RFC 9110 §7.6.1, with the older ones still seen). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  // Not hop-by-hop, but this hop has answered it: Node sent the client its 100 Continue.
  'expect',
]);

/** Fields only this hop may set: whatever a client sent is dropped. */
const OURS = new Set(['x-switchyard-gateway']);

/** Fields this hop sets itself: whatever an untrusted client sent is dropped. */
const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']);

const VIA = '1.1 switchyard';

/** What a request id may look like when passed on; anything else is replaced. */
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export interface ForwardFacts {
  /** The peer's address as this process sees it. */
  client: string;
  /** The peer is a configured proxy: its forwarding fields are kept and added to. */
  trusted: boolean;
  /** The request arrived over TLS (here or, per a trusted proxy, before). */
  secure: boolean;
  /** The Host the client asked for. */
  host: string | undefined;
  /** A new id, used when the request brings none that is valid. */
  requestId: string;
}

/**
 * Field names the Connection header lists, lower-cased, beyond those dropped anyway (and
 * "close", which names no field). Nearly every message says only "keep-alive" or "close":
 * they cost a comparison here, not a split and a Set a message.
 */
function connectionNamed(raw: readonly string[]): Set<string> | undefined {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    const value = raw[i + 1]!;
    if (value === 'keep-alive' || value === 'close') continue;
    for (const token of value.split(',')) {
      const t = token.trim().toLowerCase();
      if (!t || t === 'close' || HOP_BY_HOP.has(t)) continue;
      named ??= new Set();
      named.add(t);
    }
  }
  return named;
}

/** The client's address as it goes into Forwarded: IPv6 quoted and bracketed (RFC 7239 §6). */
function forwardedNode(addr: string): string {
  const plain = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return plain.includes(':') ? `"[${plain}]"` : plain;
}

/**
 * The request's headers for the server, and the request id it carries. Host is kept as the
 * client sent it (servers of a virtual host need it).
 */
export function requestHeaders(
  raw: readonly string[],
  f: ForwardFacts,
): { headers: string[]; requestId: string } {
  const named = connectionNamed(raw);
  const out: string[] = [];
  let xff: string | undefined;
  let fwd: string | undefined;
  let via: string | undefined;
  let requestId: string | undefined;
  let authority: string | undefined;
  let sawHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    // HTTP/2's pseudo-fields are the request line's: the server gets HTTP/1.1 and a Host.
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ':authority') authority = value;
      continue;
    }
    const lower = name.toLowerCase();
    if (lower === 'host') sawHost = true;
    if (HOP_BY_HOP.has(lower) || named?.has(lower) || OURS.has(lower)) continue;
    if (FORWARDING.has(lower)) {
      if (!f.trusted) continue;
      if (lower === 'x-forwarded-for') xff = xff === undefined ? value : `${xff}, ${value}`;
      else if (lower === 'forwarded') fwd = fwd === undefined ? value : `${fwd}, ${value}`;
      else out.push(name, value);
      continue;
    }
    if (lower === 'via') {
      via = via === undefined ? value : `${via}, ${value}`;
      continue;
    }
    if (lower === 'x-request-id') {
      if (requestId === undefined && REQUEST_ID.test(value)) requestId = value;
      continue;
    }
    out.push(name, value);
  }
  if (!sawHost && authority !== undefined) out.unshift('host', authority);
  const client = f.client.startsWith('::ffff:') ? f.client.slice(7) : f.client;
  const proto = f.secure ? 'https' : 'http';
  out.push('x-forwarded-for', xff === undefined ? client : `${xff}, ${client}`);
  // A trusted proxy's own scheme and host stand; otherwise this hop's.
  if (!f.trusted || !hasField(out, 'x-forwarded-proto')) out.push('x-forwarded-proto', proto);
  if ((!f.trusted || !hasField(out, 'x-forwarded-host')) && f.host !== undefined)
    out.push('x-forwarded-host', f.host);
  const mine = `for=${forwardedNode(f.client)};proto=${proto}${f.host !== undefined && /^[A-Za-z0-9.:[\]-]+$/.test(f.host) ? `;host=${f.host}` : ''}`;
  out.push('forwarded', fwd === undefined ? mine : `${fwd}, ${mine}`);
  out.push('via', via === undefined ? VIA : `${via}, ${VIA}`);
  const id = requestId ?? f.requestId;
  out.push('x-request-id', id);
  return { headers: out, requestId: id };
}

function hasField(flat: readonly string[], lower: string): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() === lower) return true;
  return false;
}

/**
 * The response's headers for the client, from undici's raw response headers (Buffers or
 * strings, flat): hop-by-hop fields dropped, Via added.
 */
export function responseHeaders(raw: ReadonlyArray<Buffer | string>): string[] {
  const flat = raw.map((x) => (typeof x === 'string' ? x : x.toString('latin1')));
  const named = connectionNamed(flat);
  const out: string[] = [];
  let via: string | undefined;
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    if (lower === 'via') {
      via = via === undefined ? flat[i + 1]! : `${via}, ${flat[i + 1]!}`;
      continue;
    }
    out.push(name, flat[i + 1]!);
  }
  out.push('via', via === undefined ? VIA : `${via}, ${VIA}`);
  return out;
}
