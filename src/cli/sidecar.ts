import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseHostPort } from '../config/schema.js';
import { startSidecar } from '../interface/sidecar.js';
import { createLogger } from '../log/logger.js';
import { EXIT, fail, failFrom, ignoreHangup, stopOnSignals, wholeNumber } from './exit.js';

interface SidecarFlags {
  listen: string;
  server: string;
  name: string;
  slots: string;
  maxWaiting: string;
  queueTimeout: string;
  agentSocket?: string;
  markKeyFile?: string;
  stateful?: string;
}

/**
 * `switchyard sidecar --listen 127.0.0.1:9001 --server http://127.0.0.1:8001 --name web-a
 * [-- program args...]`: the interface in front of a server that cannot load Node
 * middleware; given a program after `--`, it runs that web server too. The site's mark key
 * (for redirect marks; it opens nothing else, D52) comes from SWITCHYARD_MARK_KEY or
 * --mark-key-file.
 */
export function registerSidecar(program: Command): void {
  program
    .command('sidecar')
    .description('run the interface in front of a web server (queue, records to the agent, redirecting)')
    .requiredOption('--listen <host:port>', 'where browsers and the interceptor reach this server')
    .requiredOption('--server <url>', 'the web server behind, e.g. http://127.0.0.1:8001')
    .requiredOption('--name <name>', "the server's name in the site file")
    .option('--slots <n>', 'requests inside the server at once', '8')
    .option('--max-waiting <n>', 'requests that may wait for a slot', '1000')
    .option('--queue-timeout <ms>', 'longest wait for a slot', '10000')
    .option('--agent-socket <path>', "the host agent's Unix socket")
    .option('--mark-key-file <file>', "file holding the site's mark key (else SWITCHYARD_MARK_KEY)")
    .option('--stateful <pages>', 'comma-separated pages never moved, e.g. "/cart/*,/checkout"')
    .argument(
      '[command...]',
      "after --, the web server to run behind the sidecar (started and stopped with it, and on the agent's command)",
    )
    .action(async (command: string[], f: SidecarFlags) => {
      const listen = parseHostPort(f.listen);
      if (!listen) fail(`sidecar: --listen must be host:port, got "${f.listen}"`, EXIT.usage);
      let upstream: URL;
      try {
        upstream = new URL(f.server);
        if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') throw new Error();
      } catch {
        fail(`sidecar: --server must be an http:// or https:// URL, got "${f.server}"`, EXIT.usage);
      }
      const slots = wholeNumber('sidecar', '--slots', f.slots, 1);
      const maxWaiting = wholeNumber('sidecar', '--max-waiting', f.maxWaiting, 0);
      const queueTimeout = wholeNumber('sidecar', '--queue-timeout', f.queueTimeout, 0);
      let markKey = process.env.SWITCHYARD_MARK_KEY?.trim();
      if (f.markKeyFile) {
        try {
          markKey = readFileSync(f.markKeyFile, 'utf8').trim();
        } catch (e) {
          fail(
            `sidecar: cannot read --mark-key-file "${f.markKeyFile}": ${(e as Error).message}`,
            EXIT.usage,
          );
        }
      }
      if (!markKey)
        fail(
          'sidecar: no mark key: set SWITCHYARD_MARK_KEY or pass --mark-key-file (the manager writes .switchyard/mark-key beside the site file)',
          EXIT.usage,
        );
      const log = createLogger('sidecar');
      let sc: Awaited<ReturnType<typeof startSidecar>>;
      try {
        sc = await startSidecar({
          listen,
          upstream: upstream.origin,
          iface: {
            server: f.name,
            slots,
            maxWaiting,
            queueTimeout,
            markKey,
            pages: { mode: 'stateful', pages: f.stateful ? f.stateful.split(',').filter(Boolean) : [] },
          },
          agentSocket: f.agentSocket,
          command,
          log,
        });
      } catch (e) {
        failFrom(e);
      }
      log.info(
        { url: sc.url, upstream: upstream.origin, server: f.name, slots },
        `sidecar for ${f.name} listening on ${sc.url}, in front of ${upstream.origin} (${slots} slots)`,
      );
      stopOnSignals(log, () => sc.close());
      ignoreHangup(log, 'sidecar');
    });
}
