import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { answers } from '../agent/interface-listener.js';
import { type LoadedSite, loadSite } from '../config/load.js';
import { managerSpeaksTls } from '../config/monitoring-schema.js';
import { parseHostPort } from '../config/schema.js';
import { ensureKeys } from '../config/secret-file.js';
import { ensureManagerTls } from '../config/tls-files.js';
import { createLogger } from '../log/logger.js';
import { EXIT, fail, failFrom } from './exit.js';

/** The first address of the site that something already answers at, in words; undefined when all are free. */
async function inUse(site: LoadedSite): Promise<string | undefined> {
  const s = site.site;
  const checks: Array<[string, () => Promise<boolean>]> = [
    ...site.listen.map((l): [string, () => Promise<boolean>] => [
      `${l.host}:${l.port}`,
      () => tcpAnswers(l.host, l.port),
    ]),
    ...(s.manager
      ? [
          [
            s.manager.listen,
            () => {
              const m = parseHostPort(s.manager!.listen)!;
              return tcpAnswers(m.host, m.port);
            },
          ] as [string, () => Promise<boolean>],
        ]
      : []),
    ...s.agents.map((a): [string, () => Promise<boolean>] => {
      const path = resolve(site.file, '..', a.socket);
      return [`the agent socket ${path}`, () => answers(path)];
    }),
    ...s.servers.flatMap((srv): Array<[string, () => Promise<boolean>]> => {
      const u = new URL(site.addresses.get(srv.name)!.internal);
      if (u.protocol !== 'http:' || !LOOPBACK.includes(u.hostname)) return [];
      const host = u.hostname.replace(/^\[|\]$/g, '');
      return [[`${srv.name}'s address ${u.host}`, () => tcpAnswers(host, Number(u.port || 80))]];
    }),
  ];
  const answered = await Promise.all(checks.map(([, check]) => check()));
  return checks[answered.indexOf(true)]?.[0];
}

/** Whether something accepts a TCP connection at host:port. */
function tcpAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const c = connect({ host: host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, port });
    const done = (v: boolean) => {
      c.destroy();
      res(v);
    };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    c.setTimeout(1000, () => done(false));
  });
}

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const DEFAULT_SITE = fileURLToPath(new URL('../../examples/quickstart.yaml', import.meta.url));
const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * `switchyard up`: the whole system on one machine (what `npm start` runs). As child
 * processes: the manager (SQLite in ./switchyard-data), every agent of the site file, a demo
 * server behind the web server interface for every loopback server (2 slots per capacity
 * unit, 20 ms mean service time, so capacities make servers of different strengths), and
 * the interceptor. Ctrl-C or SIGTERM stops them all; if one stops by itself, the rest stop too.
 */
export function registerUp(program: Command): void {
  program
    .command('up')
    .alias('quickstart')
    .description('run the whole system on this machine: manager, agent, demo servers, interceptor')
    .option('-c, --config <file>', 'site file', DEFAULT_SITE)
    .option('--data-dir <dir>', "directory of the manager's store", './switchyard-data')
    .option('--service-time <ms>', 'mean service time of the demo servers', '20')
    .action(async (opts: { config: string; dataDir: string; serviceTime: string }) => {
      const log = createLogger('up');
      let site: LoadedSite;
      let markKey: string | undefined;
      try {
        site = loadSite(opts.config);
        // Every key made before anything starts (D52); the demo servers get only the mark key.
        if (site.site.manager) markKey = ensureKeys(opts.config, site.site.manager.keys).mark.secret;
        // Likewise the site CA and the manager's certificate, when it speaks TLS (D53): the
        // agent and the interceptor check the manager against them from their first dial.
        if (site.site.manager && managerSpeaksTls(site.site.manager))
          await ensureManagerTls(opts.config, site.site.manager);
      } catch (e) {
        failFrom(e);
      }
      if (!/^\d+(\.\d+)?$/.test(opts.serviceTime))
        fail(`up: --service-time must be ms, got ${opts.serviceTime}`, EXIT.usage);
      // A site already running here is left alone: refused in one line before anything starts
      // (a second `up` once deleted the running agent's socket and took its place).
      const taken = await inUse(site);
      if (taken)
        fail(`up: ${taken} is already in use (another switchyard up?); stop that first`, EXIT.failed);
      const children: ChildProcess[] = [];
      let stopping = false;
      const start = (args: string[], env: NodeJS.ProcessEnv = process.env) => {
        const child = spawn(process.execPath, [MAIN, ...args], { stdio: 'inherit', env });
        child.on('exit', (code, signal) => {
          if (!stopping) {
            log.error(
              { args, code, signal },
              `${args[0]} stopped (exit ${code ?? signal}); stopping the rest`,
            );
            stop(EXIT.failed);
          }
        });
        children.push(child);
      };
      const s = site.site;
      if (s.manager) start(['manager', '--config', opts.config, '--data-dir', resolve(opts.dataDir)]);
      for (const a of s.agents)
        start([
          'agent',
          ...['--config', opts.config, '--name', a.name],
          ...['--data-dir', resolve(opts.dataDir, `agent-${a.name}`)],
        ]);
      const agentOf = new Map<string, string>();
      for (const a of s.agents) for (const n of a.servers) agentOf.set(n, resolve(site.file, '..', a.socket));
      for (const srv of s.servers) {
        const u = new URL(site.addresses.get(srv.name)!.internal);
        if (u.protocol !== 'http:' || !LOOPBACK.includes(u.hostname)) continue;
        const slots = String(Math.max(1, Math.round(2 * srv.capacity)));
        const socket = agentOf.get(srv.name);
        start(
          [
            'demo-server',
            ...['--port', u.port || '80', '--host', u.hostname.replace(/^\[|\]$/g, ''), '--name', srv.name],
            ...['--service-time', opts.serviceTime, '--distribution', 'exponential'],
            ...(socket
              ? // Which pages never move comes from the manager (applications[].stateful).
                ['--agent-socket', socket, '--slots', slots]
              : ['--max-concurrent', slots]),
          ],
          markKey ? { ...process.env, SWITCHYARD_MARK_KEY: markKey } : process.env,
        );
      }
      start(['interceptor', '--config', opts.config]);
      const front = site.listen
        .map(
          (l) => `${l.tls ? 'https' : 'http'}://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}/`,
        )
        .join(', ');
      // "Up" once every part listens: the interceptor's addresses, the manager, each agent's socket.
      const parts: Array<() => Promise<boolean>> = [
        ...site.listen.map((l) => () => tcpAnswers(l.host, l.port)),
        ...(s.manager
          ? [
              () => {
                const m = parseHostPort(s.manager!.listen)!;
                return tcpAnswers(m.host, m.port);
              },
            ]
          : []),
        ...s.agents.map((a) => () => answers(resolve(site.file, '..', a.socket))),
      ];
      const until = Date.now() + 30_000;
      const ready = async (): Promise<void> => {
        while (!stopping) {
          if ((await Promise.all(parts.map((p) => p()))).every(Boolean)) {
            log.info(
              `switchyard is up: point a browser or curl at ${front}; ` +
                `\`npx switchyard ctl status --config ${opts.config}\` shows the servers` +
                (s.manager ? `; manager metrics at http://${s.manager.listen}/metrics` : '') +
                '; Ctrl-C stops everything',
            );
            return;
          }
          if (Date.now() > until) {
            log.error('not every part listens after 30 s; stopping');
            return stop(EXIT.failed);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      void ready();
      const stop = (exitCode: number = EXIT.ok) => {
        if (stopping) return;
        stopping = true;
        let left = children.length;
        const done = () => --left <= 0 && process.exit(exitCode);
        for (const c of children) {
          if (c.exitCode !== null || c.signalCode !== null) done();
          else {
            c.once('exit', done);
            c.kill('SIGTERM');
          }
        }
        if (children.length === 0) process.exit(exitCode);
      };
      process.once('SIGTERM', () => stop());
      process.once('SIGINT', () => stop());
    });
}
