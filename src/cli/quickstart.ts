import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadSite } from '../config/load.js';
import { createLogger } from '../log/logger.js';
import { failFrom } from './exit.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const DEFAULT_SITE = fileURLToPath(new URL('../../examples/quickstart.yaml', import.meta.url));

/**
 * `switchyard quickstart`: the whole system on one machine, for trying it out. Starts a demo
 * server for every loopback server in the site file (2 slots per capacity unit, 20 ms mean
 * service time) and an interceptor, as child processes; stops them all on SIGTERM or Ctrl-C.
 */
export function registerQuickstart(program: Command): void {
  program
    .command('quickstart')
    .description('run demo servers and an interceptor on this machine (what `npm start` runs)')
    .option('-c, --config <file>', 'site file', DEFAULT_SITE)
    .action((opts: { config: string }) => {
      const log = createLogger('quickstart');
      let site: ReturnType<typeof loadSite>;
      try {
        site = loadSite(opts.config);
      } catch (e) {
        failFrom(e);
      }
      const children: ChildProcess[] = [];
      const start = (args: string[]) => {
        const child = spawn(process.execPath, [MAIN, ...args], { stdio: 'inherit' });
        child.on('exit', (code, signal) => {
          if (!stopping) {
            log.error({ args, code, signal }, `a child stopped (${args[0]}); stopping the rest`);
            stop();
          }
        });
        children.push(child);
      };
      for (const s of site.site.servers) {
        const u = new URL(site.addresses.get(s.name)!.internal);
        if (u.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) continue;
        start([
          'demo-server',
          '--port',
          u.port || '80',
          '--host',
          u.hostname.replace(/^\[|\]$/g, ''),
          '--name',
          s.name,
          '--service-time',
          '20',
          '--distribution',
          'exponential',
          '--max-concurrent',
          String(Math.max(1, Math.round(2 * s.capacity))),
        ]);
      }
      start(['interceptor', '--config', opts.config]);
      const front = site.listen
        .map(
          (l) => `${l.tls ? 'https' : 'http'}://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}/`,
        )
        .join(', ');
      log.info(
        `quick start: point a browser or curl at ${front}; ` +
          `\`npx switchyard ctl status --config ${opts.config}\` shows the servers; Ctrl-C stops everything`,
      );
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        for (const c of children) c.kill('SIGTERM');
        let left = children.length;
        for (const c of children) {
          if (c.exitCode !== null || c.signalCode !== null) left--;
          else c.once('exit', () => --left === 0 && process.exit(0));
        }
        if (left === 0) process.exit(0);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
