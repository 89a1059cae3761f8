import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/**
 * Free ports for the processes the lab and the tests start, chosen below the kernel's
 * ephemeral range. A port from `listen(0)` comes from that range, and between choosing it and
 * the process listening on it any outgoing connection may take it as its local port; worse, a
 * client that keeps dialling a port nobody listens on yet (an agent waiting for its manager)
 * can, on Linux, connect to itself from that very port. Either way the listener then fails
 * with EADDRINUSE. Ports below the range are never handed out for outgoing connections.
 */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const [low, high] = portRange();
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < n; tries++) {
      if (tries > 50 * n + 200) throw new Error(`no ${n} free ports between ${low} and ${high}`);
      const port = low + Math.floor(Math.random() * (high - low + 1));
      if (ports.includes(port)) continue;
      const srv = await tryListen(port, host);
      if (!srv) continue;
      held.push(srv);
      ports.push(port);
    }
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
  return ports;
}

/** The stretch below the ephemeral range to pick from (Linux reads it; elsewhere 20000–32767). */
function portRange(): [number, number] {
  let ephemeralLow = 32768;
  try {
    const first = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    if (Number.isInteger(first) && first > 0) ephemeralLow = first;
  } catch {
    // Not Linux: macOS and the BSDs start theirs at 49152, above the default stretch.
  }
  const high = Math.min(ephemeralLow - 1, 32767);
  const low = Math.max(1024, Math.min(20000, high - 4000));
  return [low, high];
}

function tryListen(port: number, host: string): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen({ port, host, exclusive: true }, () => resolve(srv));
  });
}
