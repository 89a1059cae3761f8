import WebSocket from 'ws';
import { type BackoffParams, backoffDelay, LINK_BACKOFF } from '../core/backoff.js';
import type { Random } from '../core/random.js';
import type { Logger } from '../log/logger.js';
import { componentMac, managerMac, newNonce, type Role, verifyMac } from '../protocol/handshake.js';
import { encodeMessage, MAX_MESSAGE_BYTES, type Message, parseMessage } from '../protocol/messages.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { CLOSE_REFUSED, CLOSE_REPLACED } from './link-server.js';

/**
 * A component's end of its link to the manager: dials, answers the challenge, checks that
 * the manager knows its role's key too (D52), then passes validated messages on. When the link drops
 * (or goes silent for three heartbeats) it dials again after a growing, jittered delay; a
 * component keeps working meanwhile on what it last knew.
 *
 * @example
 * const link = new LinkClient({ url: 'ws://127.0.0.1:7070/link', role: 'agent', id: 'host-1',
 *   key, log, onWelcome: (w) => replayFrom(w.stored), onMessage: (m) => handle(m) });
 * link.start();
 */

export interface LinkClientOptions {
  url: string;
  role: Role;
  id: string;
  /** The key of this component's role (D52): the agent key, the interceptor key. */
  key: string;
  /** For a wss:// URL: the CA (PEM) the manager's certificate must chain to; else the system's (D53). */
  ca?: string | undefined;
  log: Logger;
  backoff?: BackoffParams;
  random?: Random;
  /** Ping interval until the manager's welcome says its own, ms. */
  heartbeat?: number;
  /** Longest from dialling to the manager's welcome, ms; then the link is cut and dialled again. Default 10 s. */
  handshakeDeadline?: number;
  onWelcome(w: { stored: number }): void;
  onMessage(m: Message): void;
  onDown?(reason: string): void;
}

/** Longest a link may take from dialling to the manager's welcome, ms. */
const HANDSHAKE_DEADLINE = 10_000;

export class LinkClient {
  private ws: WebSocket | undefined;
  private ready = false;
  private stopped = false;
  private failures = 0;
  private lastSeen = 0;
  private retry: NodeJS.Timeout | undefined;
  private beat: NodeJS.Timeout | undefined;
  private heartbeat: number;
  private lastError: string | undefined;

  constructor(private readonly o: LinkClientOptions) {
    this.heartbeat = o.heartbeat ?? 1000;
  }

  get connected(): boolean {
    return this.ready;
  }

  /** Bytes written to the link and not yet sent: a backed-up link holds off what can wait. */
  get buffered(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  start(): void {
    this.stopped = false;
    this.dial();
  }

  /** Sends when connected; false when not (the caller keeps what must not be lost). */
  send(m: Message): boolean {
    if (!this.ready || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(encodeMessage(m));
    return true;
  }

  close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.beat);
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000, 'component stopping');
      setTimeout(() => ws.terminate(), 1000).unref();
    });
  }

  private dial(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.o.url, {
      maxPayload: MAX_MESSAGE_BYTES,
      handshakeTimeout: 5000,
      ...(this.o.ca !== undefined ? { ca: this.o.ca } : {}),
    });
    this.ws = ws;
    // A manager that upgrades and then says nothing would leave this component unlinked for
    // good: no welcome within the deadline and the link is cut, and dialled again.
    const limit = this.o.handshakeDeadline ?? HANDSHAKE_DEADLINE;
    const deadline = setTimeout(() => {
      if (this.ready) return;
      this.lastError = `no welcome from the manager within ${limit} ms`;
      ws.terminate();
    }, limit);
    deadline.unref();
    ws.once('close', () => clearTimeout(deadline));
    const nonce = newNonce();
    let challenge: string | undefined;
    let refused: string | undefined;

    ws.on('message', (data: Buffer) => {
      this.lastSeen = Date.now();
      const parsed = parseMessage(data);
      if (!parsed.ok) {
        this.o.log.warn({ error: parsed.error }, `message from the manager refused: ${parsed.error}`);
        return;
      }
      const m = parsed.message;
      if (!this.ready) {
        if (m.type === 'challenge' && challenge === undefined) {
          challenge = m.nonce;
          const mac = componentMac(this.o.key, m.nonce, nonce, this.o.role, this.o.id);
          ws.send(
            encodeMessage({
              v: PROTOCOL_VERSION,
              type: 'auth',
              role: this.o.role,
              id: this.o.id,
              nonce,
              mac,
            }),
          );
        } else if (m.type === 'welcome' && challenge !== undefined) {
          const want = managerMac(this.o.key, challenge, nonce, this.o.role, this.o.id);
          if (!verifyMac(m.mac, want)) {
            refused = `the manager does not know the ${this.o.role} key`;
            ws.close(CLOSE_REFUSED, 'manager failed authentication');
            return;
          }
          this.ready = true;
          this.failures = 0;
          this.heartbeat = m.heartbeat;
          this.startBeat(ws);
          this.o.log.info({ url: this.o.url }, `connected to the manager at ${this.o.url}`);
          this.o.onWelcome({ stored: m.stored });
        } else if (m.type === 'refused') {
          refused = m.reason;
        }
        return;
      }
      this.o.onMessage(m);
    });
    ws.on('pong', () => {
      this.lastSeen = Date.now();
    });
    ws.on('error', (e: Error) => {
      // 'close' follows; the reason is logged there, once.
      this.lastError = e.message;
    });
    ws.on('close', (code: number) => {
      clearInterval(this.beat);
      const was = this.ready;
      this.ready = false;
      if (this.stopped) return;
      const reason =
        code === CLOSE_REFUSED
          ? `refused by the manager: ${refused ?? 'authentication failed'}`
          : code === CLOSE_REPLACED
            ? `replaced by a newer connection as ${this.o.role} "${this.o.id}"; if another ${this.o.role} uses that name, give each its own`
            : (this.lastError ?? `connection closed (${code})`);
      this.lastError = undefined;
      const delay = backoffDelay(
        this.failures++,
        this.o.backoff ?? LINK_BACKOFF,
        this.o.random ?? Math.random,
      );
      // A manager that says it is stopping (1001) is a routine restart, not a fault.
      const log =
        code === 1001
          ? this.o.log.info.bind(this.o.log)
          : was || this.failures === 1
            ? this.o.log.warn.bind(this.o.log)
            : this.o.log.debug.bind(this.o.log);
      log(
        { url: this.o.url, reason, retryInMs: Math.round(delay) },
        `link to the manager at ${this.o.url} is down (${reason}); trying again in ${Math.round(delay)} ms`,
      );
      if (was) this.o.onDown?.(reason);
      this.retry = setTimeout(() => this.dial(), delay);
    });
  }

  private startBeat(ws: WebSocket): void {
    clearInterval(this.beat);
    this.lastSeen = Date.now();
    this.beat = setInterval(() => {
      const silent = Date.now() - this.lastSeen;
      if (silent > 3 * this.heartbeat) ws.terminate();
      else ws.ping();
    }, this.heartbeat);
    this.beat.unref();
  }
}
