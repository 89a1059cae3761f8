import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  eventually,
  type RunningInterceptor,
  type RunningProcess,
  startCli,
  startInterceptorCli,
  tempDir,
} from '../helpers.js';

/**
 * A whole site of real processes on 127.0.0.1 for the monitoring-plane tests: a manager
 * (SQLite in a temporary directory), one agent, demo servers behind the web server interface,
 * and an interceptor with its own checks off, so everything it knows about load and failure
 * comes through the manager.
 */

export const SECRET = 'system-test-site-secret-0123456789';

export interface DemoSpec {
  name: string;
  slots: number;
  /** Fixed service time, ms. */
  serviceTime: number;
}

export interface SiteOptions {
  servers: DemoSpec[];
  /** Extra YAML under `manager:` (indented two spaces). */
  manager?: string;
}

export interface RunningSite {
  dir: string;
  file: string;
  dataDir: string;
  managerPort: number;
  ports: Map<string, number>;
  manager: RunningProcess;
  agent: RunningProcess;
  demos: Map<string, RunningProcess>;
  ic: RunningInterceptor;
  startManager(): Promise<RunningProcess>;
  startDemo(name: string): Promise<RunningProcess>;
  stop(): Promise<void>;
}

export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const s = createServer();
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export async function startSite(o: SiteOptions): Promise<RunningSite> {
  const [managerPort, icPort, ...serverPorts] = await freePorts(2 + o.servers.length);
  const ports = new Map(o.servers.map((s, i) => [s.name, serverPorts[i]!]));
  const names = o.servers.map((s) => s.name);
  const yaml = `
interceptor:
  listen: 127.0.0.1:${icPort}
  admin: 127.0.0.1:0
  healthCheck: { enabled: false }
manager:
  listen: 127.0.0.1:${managerPort}
  dataDir: ./data
${o.manager ?? ''}
agents:
  - name: host-1
    socket: ./agent.sock
    servers: [${names.join(', ')}]
    probeInterval: 0
    batch: { age: 500ms }
servers:
${o.servers.map((s) => `  - { name: ${s.name}, url: http://127.0.0.1:${ports.get(s.name)} }`).join('\n')}
applications:
  - name: shop
    match: { pathPrefix: / }
    servers: [${names.join(', ')}]
    stateful: ["/cart/*"]
`;
  const dir = tempDir({ 'site.yaml': yaml });
  const file = join(dir, 'site.yaml');
  const env = { SWITCHYARD_SECRET: SECRET };
  const started: RunningProcess[] = [];
  const startManager = async () => {
    const p = startCli(['manager', '--config', file], env);
    started.push(p);
    await p.waitFor(/manager listening on/, 'the manager to start');
    return p;
  };
  const startDemo = async (name: string) => {
    const spec = o.servers.find((s) => s.name === name)!;
    const p = startCli(
      [
        ...['demo-server', '--port', String(ports.get(name)), '--name', name],
        ...['--service-time', String(spec.serviceTime), '--agent-socket', join(dir, 'agent.sock')],
        ...['--slots', String(spec.slots), '--stateful', '/cart/*'],
      ],
      env,
    );
    started.push(p);
    await p.waitFor(/connected to its agent/, `${name} to reach its agent`);
    return p;
  };
  const stop = async () => {
    await Promise.all(started.map((p) => p.stop('SIGKILL')));
  };
  try {
    const manager = await startManager();
    const agent = startCli(['agent', '--config', file, '--name', 'host-1'], env);
    started.push(agent);
    await agent.waitFor(/connected to the manager/, 'the agent to connect');
    const demos = new Map<string, RunningProcess>();
    for (const s of o.servers) demos.set(s.name, await startDemo(s.name));
    const ic = await startInterceptorCli(file, env);
    started.push(ic);
    await ic.waitFor(/connected to the manager/, 'the interceptor to connect');
    return {
      dir,
      file,
      dataDir: join(dir, 'data'),
      managerPort,
      ports,
      manager,
      agent,
      demos,
      ic,
      startManager,
      startDemo,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

export interface ServerStatus {
  name: string;
  manager?: { L: number; level: string; failed: boolean; ageMs: number; queueLength?: number };
}

export interface Status {
  applications: Array<{ name: string; servers: Array<{ name: string; share: number }> }>;
  servers: ServerStatus[];
}

export async function status(ic: RunningInterceptor): Promise<Status> {
  const r = await ic.admin<Status>('GET', '/status');
  return r.json;
}

export function share(s: Status, server: string): number {
  return s.applications[0]!.servers.find((x) => x.name === server)!.share;
}

export function serverStatus(s: Status, server: string): ServerStatus {
  return s.servers.find((x) => x.name === server)!;
}

/** Waits for the interceptor's view of a server to satisfy `check`. */
export function untilServer(
  ic: RunningInterceptor,
  server: string,
  check: (s: ServerStatus, all: Status) => boolean,
  what: string,
  deadline = 10_000,
): Promise<Status> {
  return eventually(
    async () => {
      const st = await status(ic);
      return check(serverStatus(st, server), st) ? st : undefined;
    },
    what,
    deadline,
  );
}
