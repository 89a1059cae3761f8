// The agent of bench/overhead.mjs: the real InterfaceListener (dist/agent/interface-listener.js)
// on a Unix socket, counting what the interface sends and acknowledging its records lines
// every 50 ms, as the real agent does once its spool's sync covers them (D44): the interface
// reads those acknowledgements as it would in a site. It does nothing else with the records.
//
// It prints "overhead-agent listening on SOCKET" once it listens. On stdin it reads commands,
// one a line, and answers each on stdout:
//   stats  ->  stats {"records":N,"dropped":N,"invalid":N,"servers":[...]}
// records: request records received; dropped: records the interfaces said they dropped
// (overflow lines); invalid: lines the listener refused; servers: interfaces connected now.
//
// Usage: node bench/overhead-agent.mjs SOCKET
import { createInterface as readLines } from 'node:readline';
import { pino } from 'pino';
import { InterfaceListener } from '../dist/agent/interface-listener.js';

const path = process.argv[2];
if (!path) {
  console.error('usage: node bench/overhead-agent.mjs SOCKET');
  process.exit(2);
}

let records = 0;
let dropped = 0;
/** The last records line of each interface, acknowledged on the next tick. */
const owed = new Map();
setInterval(() => {
  for (const [session, line] of owed) session.spooled(line);
  owed.clear();
}, 50).unref();
const listener = new InterfaceListener({
  path,
  log: pino({ level: 'silent' }),
  onRecords(session, got, line) {
    records += got.length;
    if (session && line !== undefined) owed.set(session, line);
  },
  onOverflow(_server, n) {
    dropped += n;
  },
});
await listener.start();
console.log(`overhead-agent listening on ${path}`);

readLines({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'stats') return;
  const stats = { records, dropped, invalid: listener.invalid, servers: listener.servers() };
  console.log(`stats ${JSON.stringify(stats)}`);
});

const stop = () => {
  void listener.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.once('end', stop); // the benchmark has gone
