import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { createLogger } from '../src/log/logger.js';

// better-sqlite3 12 on Node 24 aborts the process when one of its objects (a database or a
// statement a test opened and let go) is finalised while Node tears the process down
// (nodejs/node#65446). Collected here, after each file's tests, Node finalises them safely.
// scripts/run-tests.mjs runs the tests with --expose-gc; without it this does nothing.
after(() => (globalThis as { gc?: () => void }).gc?.());

/**
 * Databases the tests opened, kept referenced until the process ends: the same abort happens
 * when the collector finalises a closed database in the middle of a test (seen on CI, Node 24,
 * in a test that reads the store every few ms while it waits).
 */
const keptDatabases: unknown[] = [];

/**
 * Opens a better-sqlite3 database for a test; see keptDatabases. Every statement it prepares
 * is kept too: a statement finalised mid-run aborts the process the same way (seen on CI,
 * Node 24, in a test file that reads the store with a fresh statement each time).
 */
export function openDatabase(file: string, options?: Database.Options): Database.Database {
  const db = new Database(file, options);
  keptDatabases.push(db);
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    const statement = prepare(sql);
    keptDatabases.push(statement);
    return statement;
  }) as typeof db.prepare;
  return db;
}

/** Keeps a test's object that holds better-sqlite3 handles (a store) until the process ends. */
export function keepAlive<T>(x: T): T {
  keptDatabases.push(x);
  return x;
}

/** The built CLI; `npm test` builds before it runs the tests. */
export const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');

/** Polls `check` until it returns a value other than undefined/false, or fails at the deadline. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  what: string,
  deadlineMs = 5000,
): Promise<Exclude<T, false | undefined>> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as Exclude<T, false | undefined>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The temporary directories this test file made, removed when its process ends: without it they
 * built up in /tmp run after run. SWITCHYARD_KEEP_TEST_DIRS=1 keeps them for a look after
 * a failure. The removal runs on 'exit', so it must be synchronous; the files of a database still
 * open are simply unlinked (Linux keeps them until the handle closes).
 */
const madeDirs: string[] = [];
process.on('exit', () => {
  if (process.env.SWITCHYARD_KEEP_TEST_DIRS === '1') return;
  for (const dir of madeDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A directory a child process still writes into: left for the system's tmp cleaning.
    }
  }
});

/** A temporary directory with the given files written into it, removed when the file's tests end. */
export function tempDir(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-test-'));
  madeDirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One plain HTTP request that does not follow redirects. */
export function httpRequest(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string | string[]>;
    body?: string;
    path?: string;
    /** A keep-alive agent for many requests; default none (one connection per request). */
    agent?: Agent;
  } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method: opts.method ?? 'GET',
        path: opts.path ?? u.pathname + u.search,
        // Node sends no Content-Length with a DELETE body; the server would read it as a
        // second request. A caller that frames the body itself is left alone.
        headers:
          opts.body === undefined ||
          Object.keys(opts.headers ?? {}).some((h) => /^(content-length|transfer-encoding)$/i.test(h))
            ? opts.headers
            : { ...opts.headers, 'content-length': String(Buffer.byteLength(opts.body)) },
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

export interface RunningProcess {
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, what: string, deadlineMs?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `switchyard ARGS` and collects its output; stop() sends SIGTERM and waits. */
export function startCli(args: string[], env: Record<string, string> = {}): RunningProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    output: () => out,
    waitFor: (pattern, what, deadlineMs = 10_000) =>
      eventually(() => out.match(pattern) ?? undefined, what, deadlineMs),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs `switchyard ARGS` to completion. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The token the interceptor tests give both the interceptor and ctl (SWITCHYARD_TOKEN). */
export const TEST_TOKEN = 'switchyard-test-token';

export interface RunningInterceptor extends RunningProcess {
  /** Every listener as logged, in the order of the site file (http://… or https://…). */
  urls: string[];
  /** The first listener. */
  url: string;
  /** Port of the first listener. */
  port: number;
  adminUrl: string;
  token: string;
  /** One authenticated admin call; resolves to the status and the parsed JSON (text if not JSON). */
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }>;
  /** The /metrics text. */
  metrics(): Promise<string>;
}

/**
 * Starts `switchyard interceptor --config FILE` and waits for its first log line, which names
 * the listeners and the admin endpoint. The site file should listen on port 0. SWITCHYARD_TOKEN
 * is TEST_TOKEN unless `env` says otherwise. The caller stops it (t.after(() => ic.stop())).
 */
export async function startInterceptorCli(
  siteFile: string,
  env: Record<string, string> = {},
): Promise<RunningInterceptor> {
  const token = env.SWITCHYARD_TOKEN ?? TEST_TOKEN;
  const proc = startCli(['interceptor', '--config', siteFile], { SWITCHYARD_TOKEN: token, ...env });
  const found = await eventually(
    () => {
      const m = /interceptor listening on (.+?); admin on (http:\/\/[^;\s"]+);/.exec(proc.output());
      if (m) return m;
      if (proc.child.exitCode !== null) return new Error(`the interceptor exited: ${proc.output()}`);
      return undefined;
    },
    'the interceptor to start',
    10_000,
  ).catch(async (e: unknown) => {
    await proc.stop('SIGKILL');
    throw e;
  });
  if (found instanceof Error) throw found;
  const urls = found[1]!.split(', ');
  const adminUrl = found[2]!;
  return {
    ...proc,
    urls,
    url: urls[0]!,
    port: Number(new URL(urls[0]!).port),
    adminUrl,
    token,
    async admin<T>(method: string, path: string, body?: unknown) {
      const res = await fetch(adminUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let json: unknown = text;
      try {
        json = JSON.parse(text);
      } catch {}
      return { status: res.status, json: json as T };
    },
    async metrics() {
      const res = await fetch(`${adminUrl}/metrics`);
      return res.text();
    },
  };
}

/**
 * The value of one Prometheus sample in /metrics text, 0 when absent.
 *
 * @example
 * metricValue(text, 'switchyard_interceptor_refusals_total', { reason: 'uri-too-long' });
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3]);
  }
  return 0;
}

export interface RawAnswer {
  /** Everything the server sent, as latin1 (one character per byte). */
  raw: string;
  /** Status code of the first response, 0 when nothing parseable came back. */
  status: number;
  /** Header lines of the first response, exactly as sent. */
  headerLines: string[];
  /** Lower-cased header name → values, of the first response. */
  headers: Map<string, string[]>;
  body: string;
}

/** Splits the first HTTP response out of raw bytes (read as latin1). */
export function parseRawResponse(raw: string): RawAnswer {
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers = new Map<string, string[]>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  let body = end < 0 ? '' : raw.slice(end + 4);
  if (headers.get('transfer-encoding')?.includes('chunked')) body = unchunk(body);
  return { raw, status: m ? Number(m[1]) : 0, headerLines: end < 0 ? [] : headerLines, headers, body };
}

/** The data of a chunked body (chunk extensions and trailers ignored). */
function unchunk(text: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const eol = text.indexOf('\r\n', at);
    if (eol < 0) return out;
    const size = Number.parseInt(text.slice(at, eol), 16);
    if (!(size > 0)) return out;
    out += text.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

/**
 * Sends raw bytes to 127.0.0.1:port and collects what comes back until the server closes the
 * connection (send `Connection: close` for a well-formed request). A reset after data counts
 * as a close. Fails at the deadline with what arrived so far.
 */
export function rawRequest(
  port: number,
  data: string | Buffer,
  deadlineMs = 5000,
): Promise<RawAnswer & { closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `no close within ${deadlineMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`,
        ),
      );
    }, deadlineMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') {
        clearTimeout(timer);
        reject(e);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({
        ...parseRawResponse(Buffer.concat(chunks).toString('latin1')),
        closedAfterMs: Date.now() - started,
      });
    });
  });
}

/** A logger that says nothing, for components whose log a test does not read. */
export const quiet = createLogger('test', 'silent');

/** A real server on 127.0.0.1, port 0, stopped when the test ends. */
export async function serve(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
