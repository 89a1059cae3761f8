// A stand-in for an agent, for bench:redirect's queue-choice variant: it links to the
// manager as agent `bench` and sends queue figures for the servers named on the command line
// every report interval, as a real agent relays its interfaces' figures, so that every
// interceptor of the site decides with the queue choice (D28) instead of falling back to the
// interval choice. The figures move a little from one interval to the next (a few requests
// waiting, most slots busy, service times around 20 ms), seeded, so each run sees the same.
//
// node bench/figures-feeder.mjs --manager ws://127.0.0.1:PORT/link --servers s1,s2,... [--interval MS]
// The agent key comes from SWITCHYARD_AGENT_KEY (SWITCHYARD_SECRET for builds before D52). Prints "feeder linked" once welcomed; stops on
// SIGTERM.
import { parseArgs } from 'node:util';
import { seededRandom } from '../dist/core/random.js';
import { LinkClient } from '../dist/link/link-client.js';
import { createLogger } from '../dist/log/logger.js';
import { PROTOCOL_VERSION } from '../dist/protocol/version.js';

const { values: a } = parseArgs({
  options: {
    manager: { type: 'string' },
    servers: { type: 'string' },
    interval: { type: 'string', default: '25' },
  },
});
if (!a.manager || !a.servers || !(process.env.SWITCHYARD_AGENT_KEY ?? process.env.SWITCHYARD_SECRET)) {
  console.error('figures-feeder: --manager, --servers and SWITCHYARD_AGENT_KEY are needed');
  process.exit(2);
}
const servers = a.servers.split(',');
const interval = Number(a.interval);
const random = seededRandom(42);
const log = createLogger('figures-feeder', 'warn');

const link = new LinkClient({
  url: a.manager,
  role: 'agent',
  id: 'bench',
  // `key` for this build, `secret` for builds before D52.
  key: process.env.SWITCHYARD_AGENT_KEY ?? process.env.SWITCHYARD_SECRET,
  secret: process.env.SWITCHYARD_AGENT_KEY ?? process.env.SWITCHYARD_SECRET,
  log,
  onWelcome: () => console.log('feeder linked'),
  onMessage: () => {},
});
link.start();

const timer = setInterval(() => {
  link.send({
    v: PROTOCOL_VERSION,
    type: 'figures',
    servers: servers.map((server, i) => {
      const slots = 2 * (i + 1);
      const busy = Math.min(slots, Math.floor(random() * (slots + 1)));
      return {
        server,
        figures: {
          queueLength: busy === slots ? Math.floor(random() * 3) : 0,
          busy,
          slots,
          queueDelay: busy === slots ? Math.round(random() * 20) : 0,
          serviceTime: 15 + random() * 10,
          requests: Math.round((interval / 20) * slots * (0.5 + random() * 0.5)),
          errors: 0,
        },
        age: 1,
      };
    }),
  });
}, interval);

process.once('SIGTERM', async () => {
  clearInterval(timer);
  await link.close();
  process.exit(0);
});
