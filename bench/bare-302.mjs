// The baseline for bench/redirect.mjs: the cheapest redirect Node's http module can give.
// Every request gets the same 302 with an empty body; keep-alive is Node's default (on).
// It listens on 127.0.0.1 on a free port and prints one line: "bare-302 listening on PORT".
//
// Usage: node bench/bare-302.mjs [LOCATION]
import { createServer } from 'node:http';

const location = process.argv[2] ?? 'http://127.0.0.1:9101/';

const server = createServer((_req, res) => {
  res.writeHead(302, { location, 'content-length': '0' });
  res.end();
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => {
  console.log(`bare-302 listening on ${server.address().port}`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
