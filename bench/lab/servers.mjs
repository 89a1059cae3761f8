// The balancing lab's servers (issue 8): one HTTP server per scenario server, each behind the
// web server interface with 2 x strength slots and one FIFO queue, answering after a service
// time drawn from the scenario's distribution times the server's speed factor at that moment.
// Every contender meets these same servers. All of them live in this one process: they only
// wait on timers, so they cost little CPU.
//
// node bench/lab/servers.mjs --scenario FILE --agent-socket PATH [--ports P,P,..]
// Prints one JSON line {"urls": [...]} once every server listens, then reads one line
// {"start": EPOCH_MS} on stdin: when the measured run begins (speed changes count from it).
// Stops on SIGTERM.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createInterface } from '../../dist/interface/index.js';
import { loadScenario, slotsOf, speedFactor } from '../../dist/lab/scenario.js';
import { serviceSampler } from '../../dist/lab/sim/sim-server.js';

const { values: a } = parseArgs({
  options: {
    scenario: { type: 'string' },
    'agent-socket': { type: 'string' },
    ports: { type: 'string' },
  },
});
const s = loadScenario(a.scenario);
const secret = process.env.SWITCHYARD_MARK_KEY ?? process.env.SWITCHYARD_SECRET;
if (!secret) {
  process.stderr.write('lab servers: need SWITCHYARD_MARK_KEY\n');
  process.exit(2);
}
// Until told, every server runs at its normal speed.
let start = Number.POSITIVE_INFINITY;
let input = '';
process.stdin.on('data', (b) => {
  input += b;
  const line = input.split('\n')[0];
  if (input.includes('\n')) start = Number(JSON.parse(line).start);
});

const body = (name) => Buffer.from(`served by ${name}\n`);
const servers = [];
const ifaces = [];
const ports = a.ports ? a.ports.split(',').map(Number) : s.servers.map(() => 0);
for (const [k, srv] of s.servers.entries()) {
  const sample = serviceSampler(s, (t) => speedFactor(s, srv.name, t), Math.random);
  const iface = createInterface({
    server: srv.name,
    slots: slotsOf(srv.strength),
    // The client gives up long before; a wait this long means the lab is broken.
    queueTimeout: 30_000,
    maxWaiting: 10_000,
    // `markKey` for this build, `secret` for builds before D52.
    markKey: secret,
    secret,
    agentSocket: a['agent-socket'],
  });
  ifaces.push(iface);
  const payload = body(srv.name);
  const handler = (_req, res) => {
    const ms = sample(Date.now() - start);
    setTimeout(() => {
      if (res.destroyed) return;
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': payload.length,
        'x-served-by': srv.name,
      });
      res.end(payload);
    }, ms);
  };
  const server = createServer({ keepAliveTimeout: 60_000 }, iface.wrap(handler));
  await new Promise((resolve) => server.listen(ports[k] ?? 0, '127.0.0.1', resolve));
  servers.push(server);
}
process.stdout.write(
  `${JSON.stringify({ urls: servers.map((x) => `http://127.0.0.1:${x.address().port}`) })}\n`,
);

const stop = () => {
  for (const i of ifaces) i.close();
  for (const x of servers) x.close();
  for (const x of servers) x.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
