import type { Logger } from '../log/logger.js';
import { AgentChannel } from './agent-channel.js';
import { type InterfaceOptions, ServerInterface } from './server-interface.js';

/**
 * `switchyard/interface`: the web server interface as middleware for Node servers. It loads
 * as little as it can (no logger library, no HTTP client: the sidecar is
 * `switchyard/interface/sidecar`), because whatever it loads lives in the application's
 * process and heap.
 *
 * @example
 * import { createInterface } from 'switchyard/interface';
 * const iface = createInterface({ server: 'web-a', slots: 8, markKey, agentSocket: '/run/switchyard/agent.sock' });
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
      log: o.log ?? stderrWarnings,
    });
    iface.reportTo(channel);
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

/**
 * Without a logger of the application's, warnings (no agent, a refused command) still reach
 * the operator: one JSON line each on stderr, in the shape the other components log.
 */
const stderrWarnings = {
  info() {},
  warn(a: unknown, b?: string) {
    const [fields, msg] = typeof a === 'string' ? [{}, a] : [a, b];
    process.stderr.write(
      `${JSON.stringify({ level: 40, time: Date.now(), component: 'interface', ...(fields as object), msg })}\n`,
    );
  },
} as unknown as Logger;
