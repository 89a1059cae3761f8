import { createLogger, type Logger } from '../log/logger.js';
import { AgentChannel } from './agent-channel.js';
import { type InterfaceOptions, ServerInterface } from './server-interface.js';

/**
 * `switchyard/interface`: the web server interface as middleware for Node servers.
 *
 * @example
 * import { createInterface } from 'switchyard/interface';
 * const iface = createInterface({ server: 'web-a', slots: 8, secret, agentSocket: '/run/switchyard/agent.sock' });
 * http.createServer(iface.wrap(app)).listen(9001);   // plain node:http
 * expressApp.use(iface.middleware());                 // Express; Fastify: fastify.addHook('onRequest', ...)
 */
export function createInterface(
  o: Omit<InterfaceOptions, 'report'> & { agentSocket?: string; log?: Logger },
): ServerInterface & { channel?: AgentChannel } {
  const iface = new ServerInterface(o) as ServerInterface & { channel?: AgentChannel };
  if (o.agentSocket) {
    const channel = new AgentChannel({
      path: o.agentSocket,
      iface,
      log: o.log ?? createLogger('interface', 'silent'),
    });
    iface.reportTo(channel.report);
    channel.start();
    iface.channel = channel;
    const close = iface.close.bind(iface);
    iface.close = () => {
      channel.close();
      close();
    };
  }
  return iface;
}

export { AgentChannel } from './agent-channel.js';
export { type InterfaceOptions, ServerInterface } from './server-interface.js';
export { startSidecar } from './sidecar.js';
