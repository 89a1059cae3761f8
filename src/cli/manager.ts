import type { Command } from 'commander';
import { createLogger } from '../log/logger.js';
import { startManager } from '../manager/manager.js';
import { failFrom, ignoreHangup, stopOnSignals } from './exit.js';

/** `switchyard manager --config site.yaml`: the store, load values and decisions. */
export function registerManager(program: Command): void {
  program
    .command('manager')
    .description(
      'run the manager: store what agents send, compute load values, drive interceptors and agents',
    )
    .requiredOption('-c, --config <file>', 'site file (YAML)')
    .option('--data-dir <dir>', 'directory of the SQLite store (default: manager.dataDir of the site file)')
    .option('--listen <host:port>', 'address to listen on (default: manager.listen of the site file)')
    .action(async (opts: { config: string; dataDir?: string; listen?: string }) => {
      const log = createLogger('manager');
      let m: Awaited<ReturnType<typeof startManager>>;
      try {
        m = await startManager({ configFile: opts.config, dataDir: opts.dataDir, listen: opts.listen, log });
      } catch (e) {
        failFrom(e);
      }
      stopOnSignals(log, () => m.close());
      ignoreHangup(log, 'manager');
    });
}
