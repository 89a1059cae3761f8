// A backend for bench/proxy.mjs: a plain node:http server answering every request with the
// same small body (200, Content-Length, keep-alive). It listens on 127.0.0.1 on a free port
// and prints one line, "proxy-backend NAME listening on PORT". A line "stats" on stdin is
// answered on stdout with "stats {"requests":N,"connections":M}": the requests served and the
// TCP connections accepted since start (few connections for many requests: the proxy keeps
// its connections to the server alive).
//
// Usage: node bench/proxy-backend.mjs NAME
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

const name = process.argv[2] ?? 'backend';
const body = Buffer.from(`hello from ${name}\n`);
const headers = ['content-type', 'text/plain', 'content-length', String(body.length)];
let requests = 0;
let connections = 0;

const server = createServer((_req, res) => {
  requests++;
  res.writeHead(200, headers);
  res.end(body);
});
// Longer than any proxy keeps an idle connection, so no proxy meets a connection closed under it.
server.keepAliveTimeout = 120_000;
server.on('connection', () => {
  connections++;
});
server.listen(0, '127.0.0.1', () => {
  console.log(`proxy-backend ${name} listening on ${server.address().port}`);
});
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'stats') console.log(`stats ${JSON.stringify({ requests, connections })}`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.once('end', stop);
