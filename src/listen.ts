import type { Server } from 'node:net';
import { SwitchyardError } from './errors.js';

/**
 * Listening, the same way for every component: a port already taken or an address that
 * cannot be bound becomes one line an operator understands (SY_ERR_CONFIG, exit 2).
 */
export function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(
        new SwitchyardError(
          'SY_ERR_CONFIG',
          e.code === 'EADDRINUSE'
            ? `cannot listen on ${host}:${port}: the address is already in use`
            : `cannot listen on ${host}:${port}: ${e.message}`,
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** "host:port" of a listening server, brackets around IPv6, e.g. "127.0.0.1:8080". */
export function boundAddress(server: Server): string {
  const a = server.address();
  if (a === null || typeof a === 'string') return String(a);
  return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}
