import type { Command } from 'commander';
import { type ServiceTimeDistribution, startDemoServer } from '../demo/server.js';
import { createInterface } from '../interface/index.js';
import { createLogger } from '../log/logger.js';
import { EXIT, fail, failFrom, stopOnSignals, wholeNumber } from './exit.js';

interface DemoServerFlags {
  port?: string;
  host: string;
  name?: string;
  serviceTime: string;
  distribution: string;
  maxConcurrent?: string;
  agentSocket?: string;
  slots?: string;
  stateful?: string;
}

const DISTRIBUTIONS: readonly ServiceTimeDistribution[] = ['fixed', 'exponential', 'uniform'];

/**
 * `switchyard demo-server --port N`: a stand-in web server to put behind the interceptor.
 *
 * The distribution defaults to fixed so that `--service-time 50` means exactly 50 ms, which
 * is what someone trying it by hand expects; pass `--distribution exponential` for
 * realistic variety. Bad input exits 2 (EXIT.usage) with one line on stderr.
 *
 * @example
 * // switchyard demo-server --port 9001 --name web-a --service-time 20 --distribution exponential
 * registerDemoServer(program);
 */
export function registerDemoServer(program: Command): void {
  program
    .command('demo-server')
    .description('run a demo web server that answers after a service time and names itself')
    .option('--port <n>', 'port to listen on, 0 for any free one (required)')
    .option('--host <h>', 'address to listen on', '127.0.0.1')
    .option('--name <name>', 'name sent in x-served-by (default demo-PORT)')
    .option('--service-time <ms>', 'mean service time per request, ms', '0')
    .option('--distribution <d>', `service time distribution: ${DISTRIBUTIONS.join(', ')}`, 'fixed')
    .option('--max-concurrent <n>', 'requests served at once; the rest queue (default unlimited)')
    .option(
      '--agent-socket <path>',
      'serve behind the web server interface, reporting to this agent socket (mark key from SWITCHYARD_MARK_KEY)',
    )
    .option('--slots <n>', "with --agent-socket: the interface's slots (requests inside at once)", '8')
    .option(
      '--stateful <pages>',
      'with --agent-socket: pages never moved, comma-separated ("/cart/*,/checkout")',
    )
    // Commander's own usage errors (unknown option, missing argument) get the same one-line
    // form and exit code as ours.
    .configureOutput({ outputError: (str, write) => write(`switchyard: ${str.replace(/^error: /, '')}`) })
    .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage))
    .action(async (flags: DemoServerFlags) => {
      if (flags.port === undefined) fail('demo-server: --port is required', EXIT.usage);
      const port = wholeNumber('demo-server', '--port', flags.port, 0);
      if (port > 65_535) fail(`demo-server: --port must be 0..65535, got ${flags.port}`, EXIT.usage);
      const mean = Number(flags.serviceTime);
      if (flags.serviceTime.trim() === '' || !Number.isFinite(mean) || mean < 0) {
        fail(`demo-server: --service-time must be a number of ms >= 0, got ${flags.serviceTime}`, EXIT.usage);
      }
      const distribution = flags.distribution as ServiceTimeDistribution;
      if (!DISTRIBUTIONS.includes(distribution)) {
        fail(
          `demo-server: --distribution must be one of ${DISTRIBUTIONS.join(', ')}, got ${flags.distribution}`,
          EXIT.usage,
        );
      }
      const maxConcurrent =
        flags.maxConcurrent === undefined
          ? undefined
          : wholeNumber('demo-server', '--max-concurrent', flags.maxConcurrent, 1);

      const log = createLogger('demo-server');
      let iface: ReturnType<typeof createInterface> | undefined;
      if (flags.agentSocket !== undefined) {
        const markKey = process.env.SWITCHYARD_MARK_KEY?.trim();
        if (!markKey)
          fail("demo-server: --agent-socket needs the site's mark key in SWITCHYARD_MARK_KEY", EXIT.usage);
        if (flags.name === undefined)
          fail('demo-server: --agent-socket needs --name (the server in the site file)', EXIT.usage);
        iface = createInterface({
          server: flags.name,
          slots: wholeNumber('demo-server', '--slots', flags.slots ?? '8', 1),
          markKey,
          agentSocket: flags.agentSocket,
          pages: { mode: 'stateful', pages: flags.stateful ? flags.stateful.split(',').filter(Boolean) : [] },
          log,
        });
      }
      let server: Awaited<ReturnType<typeof startDemoServer>>;
      try {
        server = await startDemoServer({
          port,
          host: flags.host,
          name: flags.name ?? ((actual) => `demo-${actual}`),
          serviceTime: { mean, distribution },
          maxConcurrent,
          wrap: iface ? (h) => iface.wrap(h) : undefined,
        });
      } catch (e) {
        failFrom(e);
      }
      // Tests and scripts started with --port 0 read the real port from this line.
      log.info(
        { name: server.name, url: server.url },
        `demo-server ${server.name} listening on ${server.url}`,
      );
      stopOnSignals(
        log,
        async () => {
          iface?.close();
          await server.close();
        },
        () => server.stats(),
      );
    });
}
