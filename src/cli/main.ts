#!/usr/bin/env node
import { Command } from 'commander';
import { registerAgent } from './agent.js';
import { registerCtl } from './ctl.js';
import { registerDemoServer } from './demo-server.js';
import { registerInterceptor } from './interceptor.js';
import { registerManager } from './manager.js';
import { registerSidecar } from './sidecar.js';
import { registerUp } from './up.js';

/**
 * The `switchyard` command. Each subcommand lives in a file of its own and registers itself
 * here; a command that fails prints one line and exits non-zero (see exit.ts).
 */
const program = new Command('switchyard')
  .description('Switchyard: a web traffic manager')
  .version('0.1.0')
  .showHelpAfterError(false);

registerInterceptor(program);
registerCtl(program);
registerDemoServer(program);
registerUp(program);
registerManager(program);
registerAgent(program);
registerSidecar(program);

await program.parseAsync(process.argv);
