import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { Pool } from 'undici';
import { boundAddress, listenOn } from '../listen.js';
import type { Logger } from '../log/logger.js';
import { AgentChannel } from './agent-channel.js';
import { type InterfaceOptions, ServerInterface } from './server-interface.js';
import { ServerProcess } from './server-process.js';

/**
 * `switchyard sidecar`: the interface for servers that cannot load Node middleware (nginx,
 * Apache, a Python app). A small front on the same host: the interface's queue and
 * redirecting in front, the web server behind, reached through a keep-alive pool (undici).
 * Hop-by-hop headers are dropped both ways; X-Forwarded-For and -Proto are added.
 *
 * @example
 * const sc = await startSidecar({ listen: { host: '127.0.0.1', port: 9001 }, upstream: 'http://127.0.0.1:8001',
 *   iface: { server: 'web-a', slots: 8, markKey }, log });
 */

export interface SidecarOptions {
  listen: { host: string; port: number };
  /** The web server behind, e.g. http://127.0.0.1:8001. */
  upstream: string;
  iface: Omit<InterfaceOptions, 'report'>;
  /** The agent's Unix socket; without it records are not reported. */
  agentSocket?: string;
  /**
   * The web server to run behind the sidecar (program and arguments): started before the
   * sidecar listens, started and stopped on the agent's command, stopped with the sidecar.
   */
  command?: string[];
  log: Logger;
}

export interface Sidecar {
  url: string;
  iface: ServerInterface;
  /** The web server process it runs, when given a command. */
  serverProcess: ServerProcess | undefined;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

function forwardHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const h: IncomingHttpHeaders = req.headers;
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  const client = req.socket.remoteAddress ?? '';
  out['x-forwarded-for'] = h['x-forwarded-for'] ? `${h['x-forwarded-for']}, ${client}` : client;
  out['x-forwarded-proto'] = 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http';
  if (h.host) out['x-forwarded-host'] = h.host;
  return out;
}

export async function startSidecar(o: SidecarOptions): Promise<Sidecar> {
  const pool = new Pool(o.upstream, { connections: Math.max(8, o.iface.slots * 2), pipelining: 1 });
  const iface = new ServerInterface(o.iface);
  const serverProcess = o.command?.length ? new ServerProcess({ command: o.command, log: o.log }) : undefined;
  await serverProcess?.start();
  const channel = o.agentSocket
    ? new AgentChannel({ path: o.agentSocket, iface, log: o.log, serverProcess })
    : undefined;
  if (channel) iface.reportTo(channel);

  const proxy = (req: IncomingMessage, res: ServerResponse) => {
    pool
      .stream(
        {
          path: req.url ?? '/',
          method: req.method as 'GET',
          headers: forwardHeaders(req),
          body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
        },
        ({ statusCode, headers }) => {
          const out: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(headers))
            if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v as string | string[];
          res.writeHead(statusCode, out);
          return res as unknown as Writable;
        },
      )
      .catch((e: Error & { code?: string }) => {
        o.log.warn(
          { err: e.message, code: e.code },
          `sidecar ${o.iface.server}: the server behind did not answer`,
        );
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' });
          res.end('the web server behind this front did not answer\n');
        } else res.destroy();
      });
  };

  const server = createServer(
    { keepAliveTimeout: 5000, headersTimeout: 10_000, requestTimeout: 60_000 },
    iface.wrap(proxy),
  );
  try {
    await listenOn(server, o.listen.host, o.listen.port);
  } catch (e) {
    await serverProcess?.stop();
    throw e;
  }
  channel?.start();
  const url = `http://${boundAddress(server)}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    iface,
    serverProcess,
    close() {
      // Once: a signal and a caller may both ask.
      closing ??= (async () => {
        channel?.close();
        iface.close();
        server.close();
        server.closeIdleConnections();
        await pool.close();
        if (server.listening) await once(server, 'close');
        await serverProcess?.stop();
      })();
      return closing;
    },
  };
}
