import type { Command } from 'commander';
import { startInterceptor } from '../interceptor/interceptor.js';
import { createLogger } from '../log/logger.js';
import { failFrom, stopOnSignals } from './exit.js';

/** `switchyard interceptor --config site.yaml`: the front door. */
export function registerInterceptor(program: Command): void {
  program
    .command('interceptor')
    .description('run the interceptor: redirect each request to a server of its application')
    .requiredOption('-c, --config <file>', 'site file (YAML)')
    .action(async (opts: { config: string }) => {
      const log = createLogger('interceptor');
      let ic: Awaited<ReturnType<typeof startInterceptor>>;
      try {
        ic = await startInterceptor({ configFile: opts.config, log });
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
