import type { Command } from 'commander';
import { startInterceptor } from '../interceptor/interceptor.js';
import { createLogger } from '../log/logger.js';
import { componentId } from '../protocol/handshake.js';
import { EXIT, fail, failFrom, stopOnSignals } from './exit.js';

/** `switchyard interceptor --config site.yaml`: the front door. */
export function registerInterceptor(program: Command): void {
  program
    .command('interceptor')
    .description('run the interceptor: redirect each request to a server of its application')
    .requiredOption('-c, --config <file>', 'site file (YAML)')
    .option(
      '--name <name>',
      "name given to the manager, unique among interceptors (default: the site file's interceptor.name, else host:port)",
    )
    .action(async (opts: { config: string; name?: string }) => {
      const log = createLogger('interceptor');
      let ic: Awaited<ReturnType<typeof startInterceptor>>;
      try {
        if (opts.name !== undefined && !componentId.safeParse(opts.name).success)
          fail(`interceptor: --name "${opts.name}": use letters, digits, ".", "_", ":" or "-"`, EXIT.usage);
        ic = await startInterceptor({
          configFile: opts.config,
          log,
          ...(opts.name ? { name: opts.name } : {}),
        });
      } catch (e) {
        failFrom(e);
      }
      stopOnSignals(log, () => ic.close());
      process.on('SIGHUP', () => {
        log.info('SIGHUP received: reloading the site file');
        ic.reload();
      });
    });
}
