import { hostname } from 'node:os';
import type { Command } from 'commander';
import { startAgent } from '../agent/agent.js';
import { createLogger } from '../log/logger.js';
import { failFrom, ignoreHangup, stopOnSignals } from './exit.js';

/** `switchyard agent --config site.yaml --name host-1`: the agent of this host. */
export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description(
      "run this host's agent: relay its servers' figures and records to the manager, probe and check them",
    )
    .requiredOption('-c, --config <file>', 'site file (YAML)')
    .option('--name <name>', 'the agent in the site file (default: the host name)', hostname())
    .option('--manager <url>', 'manager link URL (default: from the site file)')
    .option('--data-dir <dir>', "directory of the agent's spool (default: agents[].spoolDir)")
    .action(async (opts: { config: string; name: string; manager?: string; dataDir?: string }) => {
      const log = createLogger('agent');
      let a: Awaited<ReturnType<typeof startAgent>>;
      try {
        a = await startAgent({
          configFile: opts.config,
          name: opts.name,
          managerUrl: opts.manager,
          ...(opts.dataDir !== undefined ? { spoolDir: opts.dataDir } : {}),
          log,
        });
      } catch (e) {
        failFrom(e);
      }
      stopOnSignals(
        log,
        () => a.close(),
        () => ({ buffered: a.buffered, dropped: a.dropped }),
      );
      ignoreHangup(log, 'agent');
    });
}
