import { join } from 'node:path';
import { freePorts } from '../../src/lab/free-ports.js';
import {
  eventually,
  type RunningInterceptor,
  type RunningProcess,
  startCli,
  startInterceptorCli,
  TEST_TOKEN,
  tempDir,
} from '../helpers.js';

/**
 * A whole site of real processes on 127.0.0.1 for the monitoring-plane tests: a manager
 * (SQLite in a temporary directory), one agent, demo servers behind the web server interface,
 * and one or more interceptors with their own checks off, so everything they know about load
 * and failure comes through the manager. Each interceptor has its own site file (its own
 * name, listener and admin port); the rest of the files is the same.
 */

/** The site's keys (D52), one per job, as the processes get them from the environment. */
export const KEYS = {
  mark: 'system-test-mark-key-0123456789',
  agent: 'system-test-agent-key-0123456789',
  interceptor: 'system-test-interceptor-key-0123456789',
};

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
  /**
   * Interceptors, each with its own site file (ic-1, ic-2, …); default 1. None names itself:
   * each reaches the manager under its default name, host:port.
   */
  interceptors?: number;
  /** The agent's `batch:` as a YAML flow map; default `{ age: 500ms }`. */
  agentBatch?: string;
  /** Extra YAML for the application `shop` (indented four spaces), e.g. `    mode: proxy`. */
  application?: string;
}

export interface RunningSite {
  dir: string;
  /** The first interceptor's site file. */
  file: string;
  /** One site file per interceptor, in order. */
  files: string[];
  /** The keys and the admin token for the processes of the site. */
  env: Record<string, string>;
  dataDir: string;
  managerPort: number;
  ports: Map<string, number>;
  manager: RunningProcess;
  agent: RunningProcess;
  demos: Map<string, RunningProcess>;
  /** The first interceptor (ics[0] as started). */
  ic: RunningInterceptor;
  ics: RunningInterceptor[];
  startManager(): Promise<RunningProcess>;
  /** Starts the agent and waits until it is connected to the manager. */
  startAgent(): Promise<RunningProcess>;
  startDemo(name: string): Promise<RunningProcess>;
  /**
   * Starts interceptor `i` (0-based) on its site file; waits until it is connected to the
   * manager unless `waitForManager` is false. The caller puts it into `ics` if it wants.
   */
  startInterceptor(i: number, o?: { waitForManager?: boolean }): Promise<RunningInterceptor>;
  stop(): Promise<void>;
}

/** Ports below the ephemeral range: see src/lab/free-ports.ts for why. */
export { freePorts };

export async function startSite(o: SiteOptions): Promise<RunningSite> {
  const n = o.interceptors ?? 1;
  const [managerPort = 0, ...rest] = await freePorts(1 + 2 * n + o.servers.length);
  const icPorts = rest.slice(0, n);
  const adminPorts = rest.slice(n, 2 * n);
  const serverPorts = rest.slice(2 * n);
  const ports = new Map(o.servers.map((s, i) => [s.name, serverPorts[i]!]));
  const names = o.servers.map((s) => s.name);
  const shared = `
manager:
  listen: 127.0.0.1:${managerPort}
  dataDir: ./data
${o.manager ?? ''}
agents:
  - name: host-1
    socket: ./agent.sock
    servers: [${names.join(', ')}]
    probeInterval: 0
    batch: ${o.agentBatch ?? '{ age: 500ms }'}
servers:
${o.servers.map((s) => `  - { name: ${s.name}, url: http://127.0.0.1:${ports.get(s.name)} }`).join('\n')}
applications:
  - name: shop
    match: { pathPrefix: / }
    servers: [${names.join(', ')}]
    stateful: ["/cart/*"]
${o.application ?? ''}
`;
  const siteFiles: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    siteFiles[i === 0 ? 'site.yaml' : `site-${i + 1}.yaml`] = `
interceptor:
  listen: 127.0.0.1:${icPorts[i]}
  admin: 127.0.0.1:${adminPorts[i]}
  healthCheck: { enabled: false }
${shared}`;
  }
  const dir = tempDir(siteFiles);
  const files = Object.keys(siteFiles).map((f) => join(dir, f));
  const file = files[0]!;
  // The manager and the interceptors share the site's admin token, as on a real site (D25).
  const env = {
    SWITCHYARD_MARK_KEY: KEYS.mark,
    SWITCHYARD_AGENT_KEY: KEYS.agent,
    SWITCHYARD_INTERCEPTOR_KEY: KEYS.interceptor,
    SWITCHYARD_TOKEN: TEST_TOKEN,
  };
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
        // No --stateful: which pages never move comes from the site file, through the manager.
        ...['--slots', String(spec.slots)],
      ],
      env,
    );
    started.push(p);
    await p.waitFor(/connected to its agent/, `${name} to reach its agent`);
    return p;
  };
  const startAgent = async () => {
    const p = startCli(['agent', '--config', file, '--name', 'host-1'], env);
    started.push(p);
    await p.waitFor(/connected to the manager/, 'the agent to connect');
    return p;
  };
  const startInterceptor = async (i: number, so: { waitForManager?: boolean } = {}) => {
    const ic = await startInterceptorCli(files[i]!, env);
    started.push(ic);
    if (so.waitForManager ?? true)
      await ic.waitFor(/connected to the manager/, `interceptor ${i + 1} to connect`);
    return ic;
  };
  const stop = async () => {
    await Promise.all(started.map((p) => p.stop('SIGKILL')));
  };
  try {
    const manager = await startManager();
    const agent = await startAgent();
    const demos = new Map<string, RunningProcess>();
    for (const s of o.servers) demos.set(s.name, await startDemo(s.name));
    const ics: RunningInterceptor[] = [];
    for (let i = 0; i < n; i++) ics.push(await startInterceptor(i));
    return {
      dir,
      file,
      files,
      env,
      dataDir: join(dir, 'data'),
      managerPort,
      ports,
      manager,
      agent,
      demos,
      ic: ics[0]!,
      ics,
      startManager,
      startAgent,
      startDemo,
      startInterceptor,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

export interface ServerStatus {
  name: string;
  enabled: boolean;
  capacity: number;
  /** Which of the server's settings an operator override sets ("enabled", "capacity"). */
  overrides: string[];
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
