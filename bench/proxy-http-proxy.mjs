// The node-http-proxy contender of bench/proxy.mjs (http-proxy 1.18.1, a devDependency): a
// node:http server whose requests go round robin to the two backends through proxy.web, over
// a keep-alive http.Agent (32 sockets a server at most, as the gateway's default). No
// forwarding fields (xfwd off), as the bare undici proxy. It listens on 127.0.0.1 on a free
// port and prints "proxy-http-proxy listening on PORT".
//
// Usage: node bench/proxy-http-proxy.mjs http://127.0.0.1:P1 http://127.0.0.1:P2
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

const targets = process.argv.slice(2);
if (targets.length === 0) {
  console.error('usage: node bench/proxy-http-proxy.mjs ORIGIN...');
  process.exit(2);
}
const agent = new Agent({ keepAlive: true, maxSockets: 32, keepAliveMsecs: 1000 });
const proxy = httpProxy.createProxyServer({ agent, xfwd: false });
proxy.on('error', (err, _req, res) => {
  // For a plain request res is the ServerResponse (for an upgrade it would be a socket).
  if (typeof res.writeHead !== 'function') return res.destroy?.();
  if (res.headersSent) return res.destroy();
  res.writeHead(502, { 'content-type': 'text/plain' });
  res.end(`bad gateway: ${err.message}\n`);
});
let turn = 0;
const server = createServer((req, res) => {
  const target = targets[turn];
  turn = (turn + 1) % targets.length;
  proxy.web(req, res, { target });
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => {
  console.log(`proxy-http-proxy listening on ${server.address().port}`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  agent.destroy();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.once('end', stop);
process.stdin.resume();
