import type { IncomingMessage } from 'node:http';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { requestHeaders } from './forward-headers.js';

/**
 * A protocol upgrade carried through (issue 30: WebSocket pass-through): the client's request
 * goes to the server with the gateway's forwarding fields, and from then on the bytes flow
 * both ways untouched, the server's 101 (or its refusal) first. The tunnel ends when either
 * side ends, errs, or is silent for the idle time-out.
 *
 * @example
 * openTunnel(req, socket, head, { origin: 'http://127.0.0.1:9001', ...facts }, { onOpen, onFail, onClose });
 */

export interface TunnelTarget {
  origin: URL;
  pathAndQuery: string;
  /** Forwarding facts, as for a proxied request. */
  client: string;
  trusted: boolean;
  secure: boolean;
  host: string | undefined;
  requestId: string;
  /** Extra fields the gateway adds (its token). */
  extra: string[];
  connectTimeout: number;
  idleTimeout: number;
}

export interface TunnelEvents {
  /** The server could not be reached: nothing was sent to the client yet. */
  onFail(err: Error & { code?: string }): void;
  /** The status of the server's answer (101 when it took the upgrade), from its first bytes. */
  onStatus(status: number): void;
  /** The tunnel is over (either side ended it); called once. */
  onClose(): void;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** A plain answer written on a socket no HTTP response object owns (an upgrade refused), then closed. */
export function answerOnSocket(
  socket: Socket,
  status: number,
  text: string,
  extra: Record<string, string> = {},
): void {
  if (socket.destroyed) return;
  const body = Buffer.from(`${text}\n`);
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n`;
  for (const [k, v] of Object.entries(extra)) head += `${k}: ${v}\r\n`;
  socket.end(Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]));
}

/** An Upgrade value worth passing on: tokens, commas, slashes and spaces only. */
const UPGRADE = /^[A-Za-z0-9!#$%&'*+.^_`|~/ ,-]{1,256}$/;

export function upgradeValue(req: IncomingMessage): string | undefined {
  const v = req.headers.upgrade;
  return typeof v === 'string' && UPGRADE.test(v) ? v : undefined;
}

export function openTunnel(
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
  t: TunnelTarget,
  events: TunnelEvents,
): void {
  const upgrade = upgradeValue(req)!;
  const { headers } = requestHeaders(req.rawHeaders, t);
  headers.push(...t.extra, 'connection', 'upgrade', 'upgrade', upgrade);
  let text = `${req.method ?? 'GET'} ${t.pathAndQuery} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  text += '\r\n';

  const port = Number(t.origin.port) || (t.origin.protocol === 'https:' ? 443 : 80);
  const host = t.origin.hostname.replace(/^\[|\]$/g, '');
  const server =
    t.origin.protocol === 'https:'
      ? connectTls({ host, port, servername: /^[\d.]+$|:/.test(host) ? undefined : host })
      : connectTcp({ host, port });
  let connected = false;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    client.destroy();
    server.destroy();
    events.onClose();
  };
  const connectTimer = setTimeout(() => {
    if (!connected)
      server.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' }));
  }, t.connectTimeout);
  server.once(t.origin.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
    connected = true;
    clearTimeout(connectTimer);
    server.write(text);
    if (head.length > 0) server.write(head);
    server.once('data', (first: Buffer) => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(first.subarray(0, 16).toString('latin1'));
      events.onStatus(m ? Number(m[1]) : 0);
    });
    server.pipe(client);
    client.pipe(server);
    client.setTimeout(t.idleTimeout, close);
  });
  server.on('error', (err: Error & { code?: string }) => {
    clearTimeout(connectTimer);
    if (!connected && !closed) {
      closed = true;
      events.onFail(err);
      return;
    }
    close();
  });
  server.on('close', close);
  client.on('error', close);
  client.on('close', close);
}
