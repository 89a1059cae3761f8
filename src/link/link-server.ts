import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../log/logger.js';
import {
  type Auth,
  authSchema,
  componentMac,
  managerMac,
  newNonce,
  type Role,
  verifyMac,
} from '../protocol/handshake.js';
import { encodeMessage, MAX_MESSAGE_BYTES, type Message, parseMessage } from '../protocol/messages.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';

/**
 * The manager's end of the links: every component dials in and keeps one WebSocket open, and
 * the manager sends its commands back over it, so a component behind a one-way firewall
 * works (document 002 section VIII). A connection must answer the challenge with its role's
 * key (D52) within `authTimeout` before anything else is read. After that each message
 * is validated; an invalid one is refused, logged and counted, and the link stays up.
 *
 * Heartbeats: a component silent for one `heartbeat` is pinged; one silent for three is
 * marked lost and cut, and its figures start to age.
 *
 * @example
 * const links = startLinkServer({ server, keyOf: (role) => keys[role], heartbeat: 1000, storedSeq: () => 0,
 *   log, handlers: { open: (l) => {}, message: (l, m) => {}, close: (l, why) => {} } });
 */

export interface ServerLink {
  readonly role: Role;
  readonly id: string;
  readonly remote: string;
  /** Bytes written to the link and not yet sent. */
  readonly buffered: number;
  send(m: Message): boolean;
  close(reason: string): void;
}

export interface LinkHandlers {
  open(link: ServerLink): void;
  message(link: ServerLink, m: Message): void;
  close(link: ServerLink, why: string): void;
}

export interface LinkServerOptions {
  server: Server;
  path?: string;
  /** The key a role proves (D52); undefined: that role may not link. */
  keyOf: (role: Role) => string | undefined;
  heartbeat: number;
  authTimeout?: number;
  /** Highest sequence number already stored for a component: its replay starts after it. */
  storedSeq(role: Role, id: string): number;
  log: Logger;
  handlers: LinkHandlers;
  /** Counts refusals by reason, for /metrics. */
  refused?(reason: 'auth' | 'invalid' | 'timeout'): void;
  /** A component's connection replaced by a newer one under the same role and id. */
  replaced?(role: Role, id: string): void;
  /**
   * The same role and id replaced again within DUEL_WINDOW: two live components are using
   * one name (or one is restarting over and over). Called at most once a minute per name.
   */
  duplicate?(role: Role, id: string, remotes: [string, string]): void;
}

/** Two replacements of one name closer than this are two components under that name, ms. */
const DUEL_WINDOW = 30_000;
/** At most one duplicate-name warning per name this often, ms. */
const DUEL_WARN_EVERY = 60_000;

export interface LinkServer {
  links(): ServerLink[];
  close(): void;
}

/** Close codes a component reads to tell a refusal from a network failure. */
export const CLOSE_REFUSED = 4401;
export const CLOSE_REPLACED = 4409;

/** Largest frame a peer may send before it has proved itself: the handshake's own size. */
export const HANDSHAKE_MAX_BYTES = 4096;
/** How long a refused peer has to answer the close before its connection is cut, ms. */
const REFUSED_CLOSE_WAIT = 1000;
/** Peers between upgrade and proof at once; more wait their turn (one address may redial many). */
export const MAX_PENDING_HANDSHAKES = 32;

/**
 * Sets the largest frame ws reads on one connection. ws takes the limit once, for every
 * connection of a server; before proof a peer gets the handshake's size only, so an
 * unauthenticated 16 MiB frame is cut at its header instead of read and parsed (issue 29).
 * This reads ws's receiver (ws 8): test/link/link.test.ts fails if that ever changes.
 */
function limitFrames(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: number } })._receiver;
  if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
}

export function startLinkServer(opts: LinkServerOptions): LinkServer {
  // Upgrades wait for a free handshake slot rather than being refused: the quick start, the
  // fault suite and every redial after a manager restart come from one address at once.
  const proving = new Set<Socket>();
  const waiting: Array<() => void> = [];
  /** A peer proved itself, or went: its slot goes to the next one waiting. */
  const release = (socket: Socket) => {
    if (proving.delete(socket)) waiting.shift()?.();
  };
  const wss = new WebSocketServer({
    server: opts.server,
    path: opts.path ?? '/link',
    maxPayload: MAX_MESSAGE_BYTES,
    verifyClient: (info, done) => {
      const socket = info.req.socket;
      const admit = () => {
        if (socket.destroyed) return done(false);
        proving.add(socket);
        socket.once('close', () => release(socket));
        done(true);
      };
      if (proving.size < MAX_PENDING_HANDSHAKES) return admit();
      const timer = setTimeout(() => {
        const i = waiting.indexOf(wake);
        if (i >= 0) waiting.splice(i, 1);
        done(false, 503, 'too many connections waiting to prove themselves; try again');
      }, opts.authTimeout ?? 5000);
      const wake = () => {
        clearTimeout(timer);
        admit();
      };
      waiting.push(wake);
    },
  });
  // ws passes on the HTTP server's own errors (a port already taken, above all). Whoever
  // listens on that server reports them in words; unheard here, they would crash the process.
  wss.on('error', (e: Error) => opts.log.debug({ err: e.message }, `link server: ${e.message}`));
  const live = new Map<string, { link: ServerLink; ws: WebSocket; lastSeen: number }>();
  /** When each name was last replaced and last warned about; only authenticated names. */
  const replacedAt = new Map<string, number>();
  const warnedAt = new Map<string, number>();
  /**
   * Newest wins, so a component that restarts is never locked out by its own half-open old
   * connection. Two live components under one name would each replace the other every few
   * hundred ms, each left without the manager half the time: that is said loudly.
   */
  const replace = (key: string, old: { link: ServerLink; ws: WebSocket }, remote: string) => {
    old.ws.close(CLOSE_REPLACED, 'replaced by a newer connection');
    const { role, id } = old.link;
    opts.replaced?.(role, id);
    const now = Date.now();
    const before = replacedAt.get(key);
    replacedAt.set(key, now);
    if (before === undefined || now - before > DUEL_WINDOW) return;
    if (now - (warnedAt.get(key) ?? -Infinity) < DUEL_WARN_EVERY) return;
    warnedAt.set(key, now);
    opts.duplicate?.(role, id, [old.link.remote, remote]);
  };
  const authTimeout = opts.authTimeout ?? 5000;

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const nonce = newNonce();
    limitFrames(ws, HANDSHAKE_MAX_BYTES);
    const proved = () => release(req.socket);
    let entry: { link: ServerLink; ws: WebSocket; lastSeen: number } | undefined;
    const refuse = (reason: string, kind: 'auth' | 'timeout') => {
      opts.refused?.(kind);
      opts.log.warn({ remote, reason }, `link refused from ${remote}: ${reason}`);
      ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'refused', reason }));
      ws.close(CLOSE_REFUSED, 'refused');
      // Its handshake slot is free now, and a peer that does not answer the close is cut in
      // a second: ws would wait 30 s for it, and 32 silent peers would hold every slot so
      // long that no component could link.
      proved();
      setTimeout(() => ws.terminate(), REFUSED_CLOSE_WAIT).unref();
    };
    const timer = setTimeout(() => refuse('no answer to the challenge in time', 'timeout'), authTimeout);
    ws.send(encodeMessage({ v: PROTOCOL_VERSION, type: 'challenge', nonce }));

    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        opts.refused?.('invalid');
        opts.log.warn({ remote }, 'link message refused: binary frames are not part of the protocol');
        return;
      }
      if (!entry) {
        clearTimeout(timer);
        const auth = parseAuth(data);
        if (typeof auth === 'string') return refuse(auth, 'auth');
        const roleKey = opts.keyOf(auth.role);
        if (roleKey === undefined) return refuse(`no ${auth.role} may link to this manager`, 'auth');
        const want = componentMac(roleKey, nonce, auth.nonce, auth.role, auth.id);
        if (!verifyMac(auth.mac, want)) return refuse(`wrong ${auth.role} key`, 'auth');
        limitFrames(ws, MAX_MESSAGE_BYTES);
        proved();
        const key = `${auth.role}/${auth.id}`;
        const old = live.get(key);
        if (old) replace(key, old, remote);
        const link: ServerLink = {
          role: auth.role,
          id: auth.id,
          remote,
          get buffered() {
            return ws.bufferedAmount;
          },
          send: (m) => {
            if (ws.readyState !== ws.OPEN) return false;
            ws.send(encodeMessage(m));
            return true;
          },
          close: (reason) => ws.close(1000, reason.slice(0, 100)),
        };
        entry = { link, ws, lastSeen: Date.now() };
        live.set(key, entry);
        ws.send(
          encodeMessage({
            v: PROTOCOL_VERSION,
            type: 'welcome',
            mac: managerMac(roleKey, nonce, auth.nonce, auth.role, auth.id),
            stored: opts.storedSeq(auth.role, auth.id),
            heartbeat: opts.heartbeat,
          }),
        );
        opts.log.info(
          { role: auth.role, id: auth.id, remote },
          `${auth.role} ${auth.id} connected from ${remote}`,
        );
        opts.handlers.open(link);
        return;
      }
      entry.lastSeen = Date.now();
      const parsed = parseMessage(data);
      if (!parsed.ok) {
        opts.refused?.('invalid');
        opts.log.warn(
          { role: entry.link.role, id: entry.link.id, error: parsed.error },
          `message from ${entry.link.role} ${entry.link.id} refused: ${parsed.error}`,
        );
        return;
      }
      opts.handlers.message(entry.link, parsed.message);
    });
    ws.on('pong', () => {
      if (entry) entry.lastSeen = Date.now();
    });
    ws.on('error', (e) =>
      opts.log.warn({ remote, err: e.message }, `link error from ${remote}: ${e.message}`),
    );
    ws.on('close', (code: number, reason: Buffer) => {
      clearTimeout(timer);
      proved();
      if (!entry) return;
      const key = `${entry.link.role}/${entry.link.id}`;
      if (live.get(key)?.ws === ws) live.delete(key);
      const why = code === CLOSE_REPLACED ? 'replaced' : reason.toString() || `closed (${code})`;
      opts.handlers.close(entry.link, why);
    });
  });

  const tick = setInterval(() => {
    const now = Date.now();
    for (const e of live.values()) {
      const silent = now - e.lastSeen;
      if (silent > 3 * opts.heartbeat) {
        opts.log.warn(
          { role: e.link.role, id: e.link.id, silentMs: silent },
          `${e.link.role} ${e.link.id} is lost: no answer for ${silent} ms`,
        );
        e.ws.terminate();
      } else if (silent > opts.heartbeat) {
        e.ws.ping();
      }
    }
  }, opts.heartbeat).unref();

  return {
    links: () => [...live.values()].map((e) => e.link),
    close() {
      clearInterval(tick);
      for (const e of live.values()) e.ws.close(1001, 'manager stopping');
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}

function parseAuth(data: Buffer): Auth | string {
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch {
    return 'the first message is not JSON';
  }
  if (typeof json === 'object' && json !== null && 'v' in json && json.v !== PROTOCOL_VERSION)
    return `protocol version ${String(json.v)}; the manager speaks ${PROTOCOL_VERSION}`;
  const r = authSchema.safeParse(json);
  if (!r.success) return 'the first message must answer the challenge';
  return r.data;
}
