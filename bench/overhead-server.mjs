// A server of bench/overhead.mjs: node:http whose handler renders a small page
// (bench/overhead-page.mjs, `--reps` renders, about 50 µs). With `--agent SOCKET` the same
// handler is wrapped by the web server interface (createInterface(...).wrap, all record
// fields, records sent to the agent listening on SOCKET); without it, it is the bare server.
//
// It listens on 127.0.0.1 on a free port and prints "overhead-server listening on PORT".
// With --switchable as well, the interface can be switched off and on while it runs, so the
// same process serves both ways (bench/overhead.mjs --interleaved); it starts switched on.
//
// On stdin it reads commands, one a line, and answers each on stdout:
//   stats                      ->  stats {"served":N,"handlerUs":N,"dropped":N,"connected":bool}
//   mode interface | mode bare ->  the same stats line, once the switch is made (--switchable)
// served: requests its handler answered; handlerUs: mean µs of the handler's own work;
// dropped and connected: the interface's agent channel (absent for the bare server).
//
// --interface MODULE loads the interface from MODULE instead of this checkout's build, so two
// builds can be compared (bench/overhead-sets.mjs --against).
//
// --mask N: records carry only the optional fields of mask N (FIELD_BITS), as an agent's
// agents[].fields would set.
//
// Usage: node bench/overhead-server.mjs --reps N [--agent SOCKET [--switchable] [--interface MODULE] [--mask N]]
import { createServer } from 'node:http';
import { createInterface as readLines } from 'node:readline';
import { parseArgs } from 'node:util';
import { render } from './overhead-page.mjs';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    agent: { type: 'string' },
    switchable: { type: 'boolean', default: false },
    interface: { type: 'string', default: '../dist/interface/index.js' },
    mask: { type: 'string' },
  },
});
const reps = Number(values.reps);
if (!Number.isInteger(reps) || reps < 1 || reps > 10_000) {
  console.error('--reps: expected a whole number from 1 to 10000');
  process.exit(2);
}

let served = 0;
let handlerNs = 0n;

function handler(_req, res) {
  const t0 = process.hrtime.bigint();
  const page = render(reps);
  handlerNs += process.hrtime.bigint() - t0;
  served++;
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(page),
    'cache-control': 'no-store',
  });
  res.end(page);
}

let iface;
if (values.agent) {
  const { createInterface } = await import(new URL(values.interface, import.meta.url).href);
  iface = createInterface({
    server: 'web-a',
    slots: 64,
    markKey: 'x'.repeat(32),
    secret: 'x'.repeat(32),
    agentSocket: values.agent,
  });
  // The record fields an agent would set (agents[].fields); bench/overhead.mjs's agent sets none.
  if (values.mask !== undefined) iface.setMask(Number(values.mask));
}

let app = iface ? iface.wrap(handler) : handler;
let wrapped = true;
if (iface && values.switchable) {
  const withInterface = app;
  // One more call a request in both modes, so that switching changes nothing but the interface.
  app = (req, res) => (wrapped ? withInterface(req, res) : handler(req, res));
}
const server = createServer(app);
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => {
  console.log(`overhead-server listening on ${server.address().port}`);
});

readLines({ input: process.stdin }).on('line', (line) => {
  const command = line.trim();
  if (values.switchable && (command === 'mode interface' || command === 'mode bare'))
    wrapped = command === 'mode interface';
  else if (command !== 'stats') return;
  const stats = { served, handlerUs: served > 0 ? Number(handlerNs / BigInt(served)) / 1e3 : 0 };
  if (iface) {
    stats.dropped = iface.channel?.dropped ?? 0;
    stats.connected = iface.channel?.connected ?? false;
  }
  console.log(`stats ${JSON.stringify(stats)}`);
});

const stop = () => {
  iface?.close();
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.once('end', stop); // the benchmark has gone
