import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in web server for demonstrations and tests: it answers after a service time
 * drawn from a distribution, serves at most `maxConcurrent` requests at once and queues
 * the rest in arrival order, so a site of several of them behaves like servers of
 * different speeds under load. Each answer names the server that gave it.
 *
 * @example
 * const web = await startDemoServer({ port: 0, name: 'web-a', serviceTime: { mean: 20, distribution: 'exponential' } });
 * // GET web.url + '/page' answers 200 "served by web-a\n..." with `x-served-by: web-a`
 * await web.close();
 */

export type ServiceTimeDistribution = 'fixed' | 'exponential' | 'uniform';

export interface ServiceTime {
  /** Mean service time, ms. */
  mean: number;
  distribution: ServiceTimeDistribution;
}

export interface DemoServerOptions {
  /** 0 takes any free port; `DemoServer.port` tells which. */
  port: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /**
   * Sent in `x-served-by` and in every body. A function is given the port actually bound,
   * for names like `demo-PORT` when `port` is 0.
   */
  name: string | ((port: number) => string);
  /** Defaults to fixed 0: answer at once. */
  serviceTime?: ServiceTime;
  /** Requests served at the same time; the rest wait in order. Defaults to unlimited. */
  maxConcurrent?: number;
  /** Requests that may wait; one more is answered 503. Defaults to 10,000. */
  maxQueue?: number;
  /** For service-time draws; defaults to Math.random. */
  random?: () => number;
  /** Wraps the handler, e.g. with the web server interface (`iface.wrap`). */
  wrap?: (handler: RequestListener) => RequestListener;
}

export interface DemoServerStats {
  /** Requests answered after their service time (health checks not included). */
  served: number;
  /** Being served now. */
  active: number;
  /** Waiting for a free slot. */
  queued: number;
}

export interface DemoServer {
  port: number;
  /** Base URL, e.g. `http://127.0.0.1:9001`. */
  url: string;
  name: string;
  /** Stops at once: requests in service or waiting are dropped with their connections. */
  close(): Promise<void>;
  stats(): DemoServerStats;
}

/** Largest request body read; a larger one is answered 413. */
export const MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_MAX_QUEUE = 10_000;

/** Past this many taken slots the queue array is compacted, so it never grows without bound. */
const COMPACT_AFTER = 1024;

/**
 * One service time in ms. Exponential is the classic model of request work (memoryless,
 * many short, a few long); uniform spreads evenly over [0, 2 × mean].
 *
 * @example
 * drawServiceTime({ mean: 50, distribution: 'fixed' }, Math.random); // 50
 */
export function drawServiceTime(spec: ServiceTime, random: () => number): number {
  if (spec.mean <= 0) return 0;
  switch (spec.distribution) {
    case 'fixed':
      return spec.mean;
    case 'uniform':
      return random() * 2 * spec.mean;
    case 'exponential':
      // 1 - r is in (0, 1], so the logarithm is finite; 1 / (1 - r) keeps r = 0 at +0, not -0.
      return spec.mean * Math.log(1 / (1 - random()));
  }
}

/** Starts a demo server and resolves once it is listening; rejects on bad options or a taken port. */
export async function startDemoServer(opts: DemoServerOptions): Promise<DemoServer> {
  const host = opts.host ?? '127.0.0.1';
  const serviceTime = opts.serviceTime ?? { mean: 0, distribution: 'fixed' };
  const maxConcurrent = opts.maxConcurrent ?? Number.POSITIVE_INFINITY;
  const maxQueue = opts.maxQueue ?? DEFAULT_MAX_QUEUE;
  const random = opts.random ?? Math.random;
  check(
    Number.isInteger(opts.port) && opts.port >= 0 && opts.port <= 65_535,
    `port must be 0..65535, got ${opts.port}`,
  );
  check(
    Number.isFinite(serviceTime.mean) && serviceTime.mean >= 0,
    `service time must be >= 0 ms, got ${serviceTime.mean}`,
  );
  check(
    ['fixed', 'exponential', 'uniform'].includes(serviceTime.distribution),
    `distribution must be fixed, exponential or uniform, got ${serviceTime.distribution}`,
  );
  check(
    maxConcurrent === Number.POSITIVE_INFINITY || (Number.isInteger(maxConcurrent) && maxConcurrent >= 1),
    `maxConcurrent must be a whole number >= 1, got ${maxConcurrent}`,
  );
  check(Number.isInteger(maxQueue) && maxQueue >= 0, `maxQueue must be a whole number >= 0, got ${maxQueue}`);

  // Known once listening; no request can arrive before then.
  let name = '';
  let served = 0;
  let active = 0;
  // FIFO of waiting jobs: taken from `head` so a long queue costs O(1) per request, not shift()'s O(n).
  let queue: Array<(() => void) | undefined> = [];
  let head = 0;
  const timers = new Set<NodeJS.Timeout>();

  const queued = () => queue.length - head;

  const finish = () => {
    active--;
    while (active < maxConcurrent && queued() > 0) {
      const next = queue[head]!;
      queue[head] = undefined;
      head++;
      next();
    }
    if (head > COMPACT_AFTER && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
  };

  // Takes a slot (now or when one frees up), holds it for one service time, then answers.
  const serve = (req: IncomingMessage, res: ServerResponse, answer: () => void) => {
    const start = () => {
      // The client gave up while waiting: do not spend a slot on it.
      if (res.destroyed || req.socket.destroyed) return;
      active++;
      const ms = drawServiceTime(serviceTime, random);
      const done = () => {
        served++;
        answer();
        finish();
      };
      if (ms <= 0) {
        done();
        return;
      }
      const t = setTimeout(() => {
        timers.delete(t);
        done();
      }, ms);
      timers.add(t);
    };
    if (active < maxConcurrent) start();
    else if (queued() >= maxQueue) send(res, 503, 'text/plain; charset=utf-8', 'queue full\n');
    else queue.push(start);
  };

  const handler: RequestListener = (req, res) => {
    res.setHeader('x-served-by', name);
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    if (path === '/healthz') {
      req.resume();
      send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      return;
    }
    if (method === 'GET' || method === 'HEAD') {
      req.resume();
      serve(req, res, () =>
        send(res, 200, 'text/plain; charset=utf-8', `served by ${name}\nmethod ${method}\npath ${path}\n`),
      );
      return;
    }
    readBody(req, res, (body) => {
      const echo = {
        server: name,
        method,
        path,
        contentType: req.headers['content-type'] ?? null,
        body: body.toString('utf8'),
      };
      serve(req, res, () => send(res, 200, 'application/json', `${JSON.stringify(echo)}\n`));
    });
  };
  const server = createServer(opts.wrap ? opts.wrap(handler) : handler);

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      const port = (server.address() as AddressInfo).port;
      name = typeof opts.name === 'function' ? opts.name(port) : opts.name;
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      resolve({
        port,
        url,
        name,
        stats: () => ({ served, active, queued: queued() }),
        close: () =>
          new Promise<void>((done) => {
            for (const t of timers) clearTimeout(t);
            timers.clear();
            queue = [];
            head = 0;
            server.close(() => done());
            // close() only stops accepting; keep-alive and in-flight connections would hold
            // the process open, and their timers are gone, so drop them.
            server.closeAllConnections();
          }),
      });
    });
  });
}

/**
 * Reads the whole body, up to MAX_BODY_BYTES. Beyond that it answers 413 and discards the
 * rest as it arrives rather than closing: a reset while the client is still sending can
 * lose the 413 before the client reads it.
 */
function readBody(req: IncomingMessage, res: ServerResponse, then: (body: Buffer) => void): void {
  const tooLarge = () =>
    send(res, 413, 'text/plain; charset=utf-8', `request body larger than ${MAX_BODY_BYTES} bytes\n`);
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    tooLarge();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      over = true;
      chunks.length = 0;
      tooLarge();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (!over) then(Buffer.concat(chunks, size));
  });
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(message);
}
