// The bare undici proxy of bench/proxy.mjs: the least a Node reverse proxy on the project's
// undici does, the floor the gateway is measured against. A node:http server; each request
// goes to whichever of the two undici Pools has fewer requests in flight (in turn on a tie)
// with Pool.stream, the answer's status and headers written back and its body piped. Keep-alive
// both ways (32 connections a server at most, as the gateway's default); the hop-by-hop
// fields are dropped each way; no forwarding fields, no request id, no metrics, no retries.
// It listens on 127.0.0.1 on a free port and prints "proxy-undici listening on PORT".
//
// Usage: node bench/proxy-undici.mjs http://127.0.0.1:P1 http://127.0.0.1:P2
import { createServer } from 'node:http';
import { Pool } from 'undici';

const origins = process.argv.slice(2);
if (origins.length === 0) {
  console.error('usage: node bench/proxy-undici.mjs ORIGIN...');
  process.exit(2);
}
const upstreams = origins.map((o) => ({
  pool: new Pool(o, { connections: 32, pipelining: 1, keepAliveTimeout: 4000 }),
  inFlight: 0,
}));
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
let turn = 0;

function pick() {
  let best;
  for (let k = 0; k < upstreams.length; k++) {
    const u = upstreams[(turn + k) % upstreams.length];
    if (!best || u.inFlight < best.inFlight) best = u;
  }
  turn = (turn + 1) % upstreams.length;
  return best;
}

const server = createServer((req, res) => {
  const raw = req.rawHeaders;
  const headers = [];
  for (let i = 0; i < raw.length; i += 2)
    if (!HOP.has(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
  const hasBody =
    req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  const u = pick();
  u.inFlight++;
  u.pool
    .stream(
      { path: req.url, method: req.method, headers, body: hasBody ? req : null },
      ({ statusCode, headers: h }) => {
        for (const k of HOP) delete h[k];
        res.writeHead(statusCode, h);
        return res;
      },
    )
    .then(
      () => {
        u.inFlight--;
      },
      (err) => {
        u.inFlight--;
        if (res.headersSent) res.destroy();
        else {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`bad gateway: ${err.message}\n`);
        }
      },
    );
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => {
  console.log(`proxy-undici listening on ${server.address().port}`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  for (const u of upstreams) void u.pool.destroy().catch(() => {});
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.once('end', stop);
process.stdin.resume();
