// One whole Switchyard site of real processes on 127.0.0.1 for a row of the fault suite: a
// manager (SQLite in DIR/data), one agent, two demo servers behind the web server interface
// (web-a: 1 slot, so a few clients take it to its maximum level; web-b: 4 slots) and one
// interceptor. The same site file for every row, so rows differ only by their fault. Every
// process is started with the built CLI of --dist, as the system tests do (test/system/site.ts).
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { siteKeys } from '../../bench/common.mjs';

export const SECRET = 'faults-suite-site-secret-0123456789';
export const TOKEN = 'faults-suite-admin-token';

/** Every process the suite started and has not seen exit: Ctrl-C and crashes end them all. */
export const live = new Set();

/** The temporary directories of the rows, removed at the end unless --keep. */
export const tempDirs = [];

export function killEverything() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `every` ms until it gives a value other than false/undefined, or throws at the deadline. */
export async function waitFor(what, check, ms, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** How each component is started and when it counts as up (its log line). */
function commands(dir, ports) {
  const sock = join(dir, 'agent.sock');
  const demo = (name, serviceTime, slots) => ({
    args: [
      ...['demo-server', '--port', String(ports[name]), '--name', name],
      ...['--service-time', String(serviceTime), '--agent-socket', sock, '--slots', String(slots)],
      ...['--stateful', '/cart/*'],
    ],
    ready: /connected to its agent/,
  });
  const site = join(dir, 'site.yaml');
  return {
    manager: { args: ['manager', '--config', site], ready: /manager listening on/ },
    agent: { args: ['agent', '--config', site, '--name', 'host-1'], ready: /connected to the manager/ },
    'web-a': demo('web-a', 20, 1),
    'web-b': demo('web-b', 10, 4),
    interceptor: { args: ['interceptor', '--config', site], ready: /connected to the manager/ },
  };
}

/**
 * The site file. The agent's records carry the query (agents[].fields), so each request's
 * unique `?i=N` can be found in the store. Batches go after 1 s rather than the default 30 s,
 * so a row's records are in the store seconds after its load (their size limits stay the
 * defaults). web-a has low thresholds of its own, so the lease row can take it to `max`.
 * The interceptor's own checks and the agent's probes are off: they would add requests of
 * their own, and the manager's word is what the rows are about.
 */
function siteFile(ports) {
  return `interceptor:
  listen: 127.0.0.1:${ports.interceptor}
  admin: 127.0.0.1:${ports.admin}
  healthCheck: { enabled: false }
manager:
  listen: 127.0.0.1:${ports.manager}
  dataDir: ./data
agents:
  - name: host-1
    socket: ./agent.sock
    servers: [web-a, web-b]
    probeInterval: 0
    batch: { age: 1s }
    fields: [query, client, protocol, bytes, redirectedTo, aborted]
servers:
  - name: web-a
    url: http://127.0.0.1:${ports['web-a']}
    thresholds: [{ metric: queueDelay, heavy: 30, max: 60 }]
  - { name: web-b, url: http://127.0.0.1:${ports['web-b']} }
applications:
  - name: shop
    match: { pathPrefix: / }
    servers: [web-a, web-b]
    stateful: ["/cart/*"]
`;
}

/** One component's process: its whole output (also in DIR/logs), started again by restart(). */
class Component {
  constructor(site, name, spec) {
    this.site = site;
    this.name = name;
    this.spec = spec;
    this.runs = 0;
    /** What made a process of this component exit when the suite did not ask it to. */
    this.unexpected = [];
  }

  start() {
    this.runs++;
    const log = join(this.site.dir, 'logs', `${this.name}-${this.runs}.log`);
    const child = spawn(process.execPath, [this.site.cli, ...this.spec.args], {
      cwd: this.site.dir,
      // Info level whatever the caller's environment says: readiness and the notes read the logs.
      env: {
        ...process.env,
        ...siteKeys(SECRET),
        SWITCHYARD_TOKEN: TOKEN,
        SWITCHYARD_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    this.child = child;
    this.output = '';
    this.expectExit = false;
    const take = (chunk) => {
      this.output += chunk;
      appendFileSync(log, chunk);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('exit', (code, signal) => {
      live.delete(child);
      if (!this.expectExit)
        this.unexpected.push(`${this.name} exited by itself (${code ?? signal}): ${lastWords(this.output)}`);
    });
    return waitFor(
      `${this.name} to be up (${this.spec.ready})`,
      () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`${this.name} exited while starting: ${lastWords(this.output)}`);
        return this.spec.ready.test(this.output);
      },
      15_000,
    );
  }

  get alive() {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid() {
    return this.child.pid;
  }

  /** Sends a signal the suite means (kill -9, SIGSTOP, SIGCONT); the exit it causes is expected. */
  signal(sig) {
    if (sig === 'SIGKILL' || sig === 'SIGTERM') this.expectExit = true;
    this.child.kill(sig);
  }

  /** kill -9 and wait until it is gone. */
  async kill() {
    const child = this.child;
    if (!this.alive) return;
    const gone = new Promise((r) => child.once('exit', r));
    this.signal('SIGKILL');
    await gone;
  }

  /** The output of every process of this component so far (each run has its log file). */
  allOutput() {
    let out = '';
    for (let i = 1; i <= this.runs; i++) {
      try {
        out += readFileSync(join(this.site.dir, 'logs', `${this.name}-${i}.log`), 'utf8');
      } catch {}
    }
    return out;
  }
}

/** The lines of a process's output that name an error, else its last two. */
function lastWords(out) {
  const lines = out.trim().split('\n');
  const errors = lines.filter((l) => /Error\b|"level":(50|60)|^switchyard:/.test(l));
  return (errors.length > 0 ? errors : lines).slice(-2).join(' | ').slice(0, 400);
}

/**
 * Starts the whole site in a fresh temporary directory: manager, agent, the two demo servers
 * and the interceptor, each waited for, in the order they depend on each other.
 */
export async function startSite({ dist }) {
  const { freePorts } = await import(join(dist, 'lab', 'free-ports.js'));
  const [manager, interceptor, admin, a, b] = await freePorts(5);
  const ports = { manager, interceptor, admin, 'web-a': a, 'web-b': b };
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-faults-'));
  tempDirs.push(dir);
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(dir, 'site.yaml'), siteFile(ports));
  const site = {
    dir,
    cli: join(dist, 'cli', 'main.js'),
    ports,
    dbFile: join(dir, 'data', 'switchyard.db'),
    urls: {
      'web-a': `http://127.0.0.1:${a}`,
      'web-b': `http://127.0.0.1:${b}`,
      interceptor: `http://127.0.0.1:${interceptor}`,
      admin: `http://127.0.0.1:${admin}`,
      manager: `http://127.0.0.1:${manager}`,
    },
    components: {},
  };
  const specs = commands(dir, ports);
  for (const name of Object.keys(specs)) site.components[name] = new Component(site, name, specs[name]);
  try {
    for (const name of ['manager', 'agent', 'web-a', 'web-b', 'interceptor'])
      await site.components[name].start();
  } catch (e) {
    await stopSite(site);
    throw e;
  }
  return site;
}

/** Stops every process of the site: the demo servers with SIGTERM (they log what they served), the rest with kill -9. */
export async function stopSite(site) {
  const served = {};
  for (const name of ['web-a', 'web-b']) {
    const c = site.components[name];
    if (!c.alive) continue;
    const gone = new Promise((r) => c.child.once('exit', r));
    c.signal('SIGTERM');
    await Promise.race([gone, sleep(3000)]);
    const m = /"served":(\d+)[^\n]*SIGTERM received/.exec(c.output);
    if (m) served[name] = Number(m[1]);
  }
  for (const c of Object.values(site.components)) {
    if (c.alive) {
      c.signal('SIGCONT');
      await c.kill();
    }
  }
  return served;
}
