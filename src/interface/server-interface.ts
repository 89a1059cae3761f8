import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { QueueFigures } from '../core/load-value.js';
import { compilePageRules, mayMove, type PageRules, type PageRulesSpec } from '../core/page-rules.js';
import type { Clock } from '../core/random.js';
import { CHECK_HEADER } from '../protocol/check-header.js';
import { ALL_FIELDS, FIELD_BITS, objectSink, type RecordSink } from '../protocol/local-record.js';
import type { RequestRecord } from '../protocol/messages.js';
import {
  addMark,
  GATEWAY_HEADER,
  isGatewayToken,
  makeMark,
  mayHaveMark,
  readMark,
  stripMark,
} from '../protocol/redirect-mark.js';
import { parseTarget } from '../protocol/request-target.js';
import { type Admission, RequestQueue, type Ticket } from './request-queue.js';

/**
 * The web server interface of document 002 section IV, for today's servers: one
 * implementation used as middleware inside a Node server and by the sidecar in front of any
 * other. For every request it:
 *
 * 1. strips a redirect mark (so the application never sees it) and remembers whether the
 *    request was already moved once;
 * 2. when told to redirect and the page may move (page rules) and it was not moved already,
 *    answers with a redirect to the target, same path and query, plus a fresh mark;
 * 3. otherwise waits for a slot of the explicit queue (503 with Retry-After when the queue is
 *    full or the wait too long), lets the server answer, and frees the slot;
 * 4. reports the request (the Table 3 fields the mask selects) to `report`.
 *
 * What the record says of the request itself (method, path, query, client, protocol, user
 * agent, referrer, cookies) is read as the request arrives, and what it says of the answer
 * once the answer is done. The request is then as the client sent it, before an application
 * rewrites `req.url` (Express's mounted routers do), and its fields are read while Node has
 * just parsed them: read after the application has run, they cost a busy server more,
 * being out of the caches by then (D34).
 *
 * @example
 * const iface = new ServerInterface({ server: 'web-a', slots: 8, markKey });
 * http.createServer(iface.wrap((req, res) => res.end('hello'))).listen(9001);
 */

export interface InterfaceOptions {
  /** The server's name in the site file. */
  server: string;
  /** Requests inside the server at once (its maxConcurrent). */
  slots: number;
  /** Requests that may wait for a slot. Default 1000. */
  maxWaiting?: number;
  /** Longest wait for a slot, ms. Default 10 s. */
  queueTimeout?: number;
  /** Which pages may be moved to another server. Default: all. */
  pages?: PageRulesSpec;
  /** The site's mark key, to sign and read redirect marks; it opens nothing else (D52). */
  markKey: string;
  /** Where each request's record goes, as an object (tests, embedding); the agent channel is a RecordSink (`reportTo`). */
  report?: (r: RequestRecord) => void;
  /** Seconds in Retry-After of a 503. Default 5. */
  retryAfter?: number;
  /** Monotonic ms; default performance.now. */
  clock?: Clock;
  /** Wall-clock ms for records and marks; default Date.now. */
  wallClock?: () => number;
}

type Next = (err?: unknown) => void;
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export class ServerInterface {
  readonly queue: RequestQueue;
  private rules: PageRules;
  private target: string | undefined;
  /** Monotonic ms when the redirect lapses unless renewed (D45). */
  private targetUntil = Number.POSITIVE_INFINITY;
  private mask = ALL_FIELDS;
  private readonly clock: Clock;
  private readonly wall: () => number;
  /** Requests redirected away since the last figures(). */
  private redirected = 0;
  /** Wall-clock ms minus monotonic ms, so a record's start costs no clock read of its own. */
  private wallOffset = 0;
  /** Monotonic ms after which wallOffset is worked out again (the wall clock may be stepped). */
  private offsetUntil = Number.NEGATIVE_INFINITY;
  private sink: RecordSink | undefined;

  constructor(private readonly o: InterfaceOptions) {
    this.clock = o.clock ?? (() => performance.now());
    this.wall = o.wallClock ?? Date.now;
    this.queue = new RequestQueue(
      { slots: o.slots, maxWaiting: o.maxWaiting ?? 1000, timeout: o.queueTimeout ?? 10_000 },
      this.clock,
    );
    this.rules = compilePageRules(o.pages ?? { mode: 'fixed', pages: [] });
    this.sink = o.report ? objectSink(o.server, o.report) : undefined;
  }

  get server(): string {
    return this.o.server;
  }

  /** Where users are being sent, or undefined when the server serves everyone. */
  get redirectTarget(): string | undefined {
    if (this.target !== undefined && this.clock() >= this.targetUntil) this.target = undefined;
    return this.target;
  }

  /**
   * Sends stateless users to `target` (undefined: serve everyone). With `lease` (ms) the
   * redirect lapses unless told again within it: what a manager says is only true while it
   * is there to say it again (D45).
   */
  redirectTo(target: string | undefined, lease?: number): void {
    this.target = target?.replace(/\/+$/, '');
    this.targetUntil = lease === undefined ? Number.POSITIVE_INFINITY : this.clock() + lease;
  }

  setRules(spec: PageRulesSpec): void {
    this.rules = compilePageRules(spec);
  }

  /** Where records go from now on (the agent channel, once it exists). */
  reportTo(sink: RecordSink | undefined): void {
    this.sink = sink;
  }

  /** Which optional fields records carry (FIELD_BITS): all until the agent sets them. */
  get fieldMask(): number {
    return this.mask;
  }

  /** The optional fields worth reading of a request: none when there is nowhere to report to. */
  private get fieldsRead(): number {
    return this.sink === undefined ? 0 : this.mask;
  }

  setMask(mask: number): void {
    this.mask = mask;
  }

  figures(): QueueFigures & { refused: number; redirected: number } {
    const f = { ...this.queue.figures(), redirected: this.redirected };
    this.redirected = 0;
    return f;
  }

  /** Wraps a plain node:http handler. */
  wrap(handler: Handler): Handler {
    return (req, res) => this.dispatch(req, res, handler, undefined);
  }

  /** Express / connect style middleware. */
  middleware(): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
    return (req, res, next) => this.dispatch(req, res, undefined, next);
  }

  close(): void {
    this.queue.close();
  }

  /** A request a gateway carried here (D54): never redirected, the gateway chose this server. */
  private fromGateway(req: IncomingMessage): boolean {
    const token = req.headers[GATEWAY_HEADER];
    return typeof token === 'string' && isGatewayToken(this.o.markKey, token, this.wall());
  }

  handle(req: IncomingMessage, res: ServerResponse, next: Next): void {
    this.dispatch(req, res, undefined, next);
  }

  /**
   * The work of every request. The application is either a handler (wrap: called as it is,
   * so no closure is made per request) or a middleware chain's `next`.
   */
  private dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    app: Handler | undefined,
    next: Next | undefined,
  ): void {
    let pathAndQuery = req.url ?? '/';
    let moved = false;
    if (mayHaveMark(pathAndQuery)) {
      const stripped = stripMark(pathAndQuery);
      if (stripped.mark !== undefined) {
        pathAndQuery = stripped.pathAndQuery;
        req.url = pathAndQuery;
        moved = readMark(this.o.markKey, stripped.mark, this.wall()) !== undefined;
      }
    }
    const s = this.arrive(req, pathAndQuery);
    // The Location is built from the target read as the interceptor reads it (D6): an
    // absolute-form target for another host, or `*`, is served here, never redirected.
    const t =
      this.target !== undefined &&
      this.redirectTarget !== undefined &&
      !moved &&
      req.headers[CHECK_HEADER] === undefined
        ? parseTarget(pathAndQuery, req.headers.host)
        : undefined;
    if (t !== undefined && mayMove(this.rules, t.path) && !this.fromGateway(req)) {
      const arrivedWall = this.wall();
      const location =
        this.target + addMark(t.pathAndQuery, makeMark(this.o.markKey, this.o.server, arrivedWall));
      const status = req.method === 'GET' || req.method === 'HEAD' ? 302 : 307;
      res.writeHead(status, { location, 'content-length': '0', 'cache-control': 'no-store' });
      res.end();
      this.redirected++;
      this.record(res, s, arrivedWall, 0, 0, status, location);
      return;
    }

    const ticket = this.queue.tryEnter();
    if (ticket) {
      this.serve(res, app, next, s, ticket);
      return;
    }
    const start = this.clock();
    void this.queue.enter().then((a: Admission) => {
      if (a.ok) {
        this.serve(res, app, next, s, a.ticket);
        return;
      }
      const now = this.clock();
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(503, {
          'retry-after': String(this.o.retryAfter ?? 5),
          'content-type': 'text/plain; charset=utf-8',
          'cache-control': 'no-store',
        });
        res.end(
          a.reason === 'closed' ? 'the server is stopping\n' : 'the server is too busy; try again soon\n',
        );
      }
      this.record(res, s, this.wallAt(start, now), now - start, 0, 503, undefined);
    });
  }

  /**
   * The request's place in this interface, with what its record says of the request itself,
   * read now (see the class comment). Fields the mask leaves out are not read, nor any when
   * there is nowhere to report to.
   */
  private arrive(req: IncomingMessage, pathAndQuery: string): Serving {
    const m = this.fieldsRead;
    const q = pathAndQuery.indexOf('?');
    // Node's server has built req.headers already for every HTTP/1.1 request (it looks for
    // Host and Expect there), so these are lookups; only an HTTP/1.0 one has them built here.
    // As in req.headers, the first User-Agent and Referer count. Read through the getter once.
    const h = m & (FIELD_BITS.userAgent | FIELD_BITS.referrer | FIELD_BITS.cookies) ? req.headers : undefined;
    return {
      iface: this,
      req,
      t: undefined,
      bytesBefore: undefined,
      outer: undefined,
      method: (req.method ?? '').slice(0, 16),
      path: (q < 0 ? pathAndQuery : pathAndQuery.slice(0, q)).slice(0, 2048),
      query: m & FIELD_BITS.query && q >= 0 ? pathAndQuery.slice(q + 1, q + 2049) : undefined,
      connection: m & (FIELD_BITS.client | FIELD_BITS.protocol) ? connectionOf(req) : undefined,
      userAgent: m & FIELD_BITS.userAgent ? h!['user-agent']?.slice(0, 512) || undefined : undefined,
      referrer: m & FIELD_BITS.referrer ? h!.referer?.slice(0, 2048) || undefined : undefined,
      cookies: m & FIELD_BITS.cookies ? h!.cookie !== undefined : undefined,
      contentType: undefined,
      writeHead: undefined,
    };
  }

  /** The request has its slot: lets the server answer, then frees the slot and reports. */
  private serve(
    res: ServerResponse,
    app: Handler | undefined,
    next: Next | undefined,
    s: Serving,
    t: Ticket,
  ): void {
    const req = s.req;
    const m = this.fieldsRead;
    s.t = t;
    if (m & FIELD_BITS.bytes) s.bytesBefore = bytesSent(req.socket);
    const held = res as ServerResponse & { [kServing]?: Serving };
    // A response always ends in 'close' (after 'finish' when it was sent whole, or when the
    // client went away), so one listener covers both. One shared function, not a closure.
    // A request that passes two interfaces (middleware mounted twice) holds a slot in each;
    // both are freed.
    s.outer = held[kServing];
    held[kServing] = s;
    if (s.outer === undefined) res.on('close', onResponseClose);
    // Headers given to writeHead as an object are kept nowhere Node lets us read cheaply, so
    // the content type is caught on their way in, as on-headers (morgan, compression) does:
    // the response's own writeHead, which calls the one it had. Once a response, by the
    // first interface that wants it: a second catch could find another wrapper of the first
    // in between and call round in a loop.
    if (m & FIELD_BITS.contentType && !catching(s.outer)) {
      s.writeHead = res.writeHead;
      res.writeHead = writeHeadSeen as ServerResponse['writeHead'];
    }
    // The client may have gone while it waited, and its 'close' has passed: free the slot now.
    if (req.socket.destroyed) {
      this.finish(res, s);
      return;
    }
    if (app) app(req, res);
    else next!();
  }

  /**
   * The response has been sent or abandoned: frees the slot and reports. Called by the
   * response's `close` listener; not for applications.
   * @internal
   */
  finish(res: ServerResponse, s: Serving): void {
    const t = s.t;
    if (t === undefined || t.done) return;
    const now = this.clock();
    this.queue.leave(t, res.statusCode, now);
    this.record(
      res,
      s,
      this.wallAt(t.arrived, now),
      t.started - t.arrived,
      now - t.started,
      res.statusCode,
      undefined,
    );
  }

  /**
   * The wall-clock time of monotonic `at`, given `now` (monotonic, just read). The two clocks'
   * difference is read once a second, not once a request: a clock read is a measurable share
   * of what the interface costs a busy server. A record's start is whole ms, as Date.now()
   * gives it: finer says nothing, and a whole number is quicker to write as JSON.
   */
  private wallAt(at: number, now: number): number {
    if (now >= this.offsetUntil) {
      this.wallOffset = this.wall() - this.clock();
      this.offsetUntil = now + 1000;
    }
    return Math.round(at + this.wallOffset);
  }

  /** Reports a request, given what was read of it as it arrived (`arrive`). */
  private record(
    res: ServerResponse,
    s: Serving,
    start: number,
    queueWait: number,
    serviceTime: number,
    status: number,
    redirectedTo: string | undefined,
  ): void {
    const sink = this.sink;
    if (!sink?.accept()) return;
    // The mask may have changed since the request arrived: a field it now leaves out is left out.
    const m = this.mask;
    let bytes: number | undefined;
    if (m & FIELD_BITS.bytes) {
      // Without a content-length (chunked), what the socket wrote, headers included.
      const len = contentLength(res);
      if (Number.isFinite(len) && len >= 0) bytes = len;
      else if (s.bytesBefore !== undefined) bytes = Math.max(0, bytesSent(s.req.socket) - s.bytesBefore);
    }
    sink.push(
      start,
      s.method,
      s.path,
      status,
      queueWait,
      serviceTime,
      m & FIELD_BITS.client ? s.connection?.client : undefined,
      m & FIELD_BITS.query ? s.query : undefined,
      m & FIELD_BITS.protocol ? s.connection?.protocol : undefined,
      bytes,
      m & FIELD_BITS.contentType ? contentTypeOf(res, s) : undefined,
      m & FIELD_BITS.userAgent ? s.userAgent : undefined,
      m & FIELD_BITS.referrer ? s.referrer : undefined,
      m & FIELD_BITS.cookies ? s.cookies : undefined,
      m & FIELD_BITS.redirectedTo ? redirectedTo?.slice(0, 2048) || undefined : undefined,
      m & FIELD_BITS.aborted ? !res.writableFinished : undefined,
    );
  }
}

const kServing = Symbol('switchyard.serving');
/** A request's place in an interface, from its arrival to its record. */
interface Serving {
  iface: ServerInterface;
  req: IncomingMessage;
  /** Its slot, once it has one. */
  t: Ticket | undefined;
  bytesBefore: number | undefined;
  /** The request's place in an interface it passed before this one, if any. */
  outer: Serving | undefined;
  // What the record says of the request, as it arrived (absent: not read).
  method: string;
  path: string;
  query: string | undefined;
  connection: Connection | undefined;
  userAgent: string | undefined;
  referrer: string | undefined;
  cookies: boolean | undefined;
  /** The content type writeHead was given: null when it was given none, undefined when not seen. */
  contentType: string | null | undefined;
  /** The response's writeHead before this interface caught it (set in the one that did). */
  writeHead: ServerResponse['writeHead'] | undefined;
}

type Held = ServerResponse & { [kServing]?: Serving };

function onResponseClose(this: Held): void {
  for (let s = this[kServing]; s !== undefined; s = s.outer) s.iface.finish(this, s);
}

/**
 * The response's writeHead while an interface wants its content type: calls the writeHead
 * the response had, then notes the content type it was given in each interface the request
 * passed (after the call, so a writeHead that throws notes nothing).
 */
function writeHeadSeen(this: Held, statusCode: number, reason?: unknown, obj?: unknown): unknown {
  let original: ServerResponse['writeHead'] | undefined;
  for (let s = this[kServing]; s !== undefined; s = s.outer) original ??= s.writeHead;
  // Called with the arguments as given: Node tells writeHead(code, headers) from
  // writeHead(code, reason, headers) by the reason's type.
  const answer = (original as (this: Held, ...a: unknown[]) => unknown).call(this, statusCode, reason, obj);
  const type = contentTypeGiven(typeof reason === 'string' ? obj : (obj ?? reason));
  for (let s = this[kServing]; s !== undefined; s = s.outer) s.contentType = type;
  return answer;
}

/** Whether an interface the request passed before catches its writeHead already. */
function catching(outer: Serving | undefined): boolean {
  for (let s = outer; s !== undefined; s = s.outer) if (s.writeHead !== undefined) return true;
  return false;
}

/**
 * The content type in headers given to writeHead: null when they have none, undefined when
 * they are not an object of names (an array of them is left to the header block).
 */
function contentTypeGiven(headers: unknown): string | null | undefined {
  if (headers === undefined || headers === null) return null;
  if (typeof headers !== 'object' || Array.isArray(headers)) return undefined;
  const h = headers as Record<string, unknown>;
  let v = h['content-type'] ?? h['Content-Type'];
  // Header names are case-insensitive: any other spelling is looked for only when these miss.
  if (v === undefined)
    for (const k of Object.keys(h)) if (k.length === 12 && k.toLowerCase() === 'content-type') v = h[k];
  if (Array.isArray(v)) v = v[0];
  return v === undefined || v === null ? null : String(v).slice(0, 128);
}

/**
 * The response's content type as sent: from Node's header table when the application used
 * setHeader (Express and most frameworks do; writeHead's headers are merged in there then),
 * else as writeHead was given it, else from the header block.
 */
function contentTypeOf(res: ServerResponse, s: Serving): string | undefined {
  const v =
    tableHeader(res, 'content-type') ??
    (s.contentType === undefined ? headerInBlock(res, 'content-type') : s.contentType);
  return v?.slice(0, 128);
}

/** A header in Node's table (setHeader), its first value when it has several. */
function tableHeader(res: ServerResponse, name: string): string | undefined {
  const v = res.getHeader(name);
  return v === undefined ? undefined : Array.isArray(v) ? v[0] : String(v);
}

const kConnection = Symbol('switchyard.connection');
type Connection = { client: string; protocol: string; version: string };

/**
 * The client's address and the protocol, worked out once per connection: a keep-alive
 * connection carries many requests, and these strings are the same for all of them.
 */
function connectionOf(req: IncomingMessage): Connection {
  const socket = req.socket as TLSSocket & { [kConnection]?: Connection };
  const known = socket[kConnection];
  if (known !== undefined && known.version === req.httpVersion) return known;
  const c = {
    client: `${socket.remoteAddress}:${socket.remotePort}`.slice(0, 64),
    protocol: `${socket.encrypted ? 'HTTPS' : 'HTTP'}/${req.httpVersion}`.slice(0, 16),
    version: req.httpVersion,
  };
  socket[kConnection] = c;
  return c;
}

/**
 * Bytes the socket has handed to the kernel: Node's own count (`_bytesDispatched`, kept by
 * every version since 0.x), which costs a property read where the `bytesWritten` getter
 * copies the socket's write buffer to add what still waits in it. At a response's start and
 * end (after 'finish') nothing of this connection waits, so the two agree.
 */
function bytesSent(socket: Socket): number {
  const n = (socket as unknown as { _bytesDispatched?: unknown })._bytesDispatched;
  return typeof n === 'number' ? n : socket.bytesWritten;
}

/**
 * The response's content length: what Node worked out for it (`_contentLength`, from the
 * header or from end()'s data; null when chunked), which costs a property read where
 * finding the header in the block sent costs a search of it. Read from the header when a
 * Node lacks the field.
 */
function contentLength(res: ServerResponse): number {
  const known = (res as unknown as { _contentLength?: unknown })._contentLength;
  if (typeof known === 'number') return known;
  if (known === null) return Number.NaN;
  return Number(tableHeader(res, 'content-length') ?? headerInBlock(res, 'content-length') ?? Number.NaN);
}

/**
 * A response header as Node wrote it in the header block (`_header`, kept by every version
 * since 0.x): for a header Node added itself, or one given to writeHead in a way the
 * interface did not catch. Costs a copy of the block (Node builds it piece by piece, and a
 * search needs it in one).
 */
const NEEDLES = { 'content-type': '\r\ncontent-type:', 'content-length': '\r\ncontent-length:' } as const;

function headerInBlock(res: ServerResponse, name: 'content-type' | 'content-length'): string | undefined {
  const block = (res as unknown as { _header?: unknown })._header;
  if (typeof block !== 'string' || block === '') return undefined;
  // Header names are case-insensitive; lower-case a copy only when the name is not as given.
  const needle = NEEDLES[name];
  let i = block.indexOf(needle);
  if (i < 0) {
    i = block.toLowerCase().indexOf(needle);
    if (i < 0) return undefined;
  }
  const from = i + needle.length;
  const to = block.indexOf('\r\n', from);
  return block.slice(from, to < 0 ? undefined : to).trim();
}
