import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { QueueFigures } from '../core/load-value.js';
import type { Logger } from '../log/logger.js';
import { readBoundedLines } from '../protocol/line-reader.js';
import { type FromInterface, fromInterfaceSchema, parseLine, type ToInterface } from '../protocol/local.js';
import { newNonce, proofMatches } from '../protocol/local-proof.js';
import { decodeBatch, MAX_LINE_BYTES, readJsonLine } from '../protocol/local-record.js';
import type { RequestRecord } from '../protocol/messages.js';

/**
 * The agent's end of the local channel: a Unix socket every interface on the host dials.
 * An interface says which server it serves; then its request records stream in, and the
 * agent sends it commands and asks for its queue figures. Every line is validated; a bad
 * one is dropped, counted and logged, and never ends the session.
 *
 * @example
 * const l = new InterfaceListener({ path, log, onRecord: (r) => batch(r), onOverflow: (s, n) => event(s, n) });
 * await l.start();
 * await l.session('web-a')?.command({ op: 'redirect', target: 'http://127.0.0.1:8080' });
 */

export type InterfaceFigures = { figures: QueueFigures; refused: number; redirected: number };

export interface InterfaceSession {
  server: string;
  pid: number;
  /** The interface process's id, when it numbers its records lines (D44). */
  instance?: string;
  /** Tells the interface every records line up to `seq` is spooled (it forgets them). */
  spooled(seq: number): void;
  /** Sends a command; resolves with the interface's answer, rejects after `timeout`. */
  command(
    c: DistributiveOmit<ToInterface, 'id'>,
    timeout?: number,
  ): Promise<{ ok: boolean; data?: unknown; error?: string }>;
  figures(timeout?: number): Promise<InterfaceFigures>;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface InterfaceListenerOptions {
  path: string;
  /** The local key a hello must prove (D50); without one, any hello is taken (tests, tools). */
  key?: Buffer;
  /** Where the key is, for the refusal's words. */
  keyFile?: string;
  /** Permissions of the socket file. Default 0o660: the agent's user and group. */
  mode?: number;
  log: Logger;
  /**
   * The valid records of one records line; `line` is its number in the interface's count
   * (given when the interface numbers its lines), for acknowledging it once spooled.
   */
  onRecords(s: InterfaceSession | undefined, records: RequestRecord[], line: number | undefined): void;
  onOverflow(server: string, dropped: number, reason: 'agent-away' | 'agent-slow' | undefined): void;
  onHello?(s: InterfaceSession): void;
  /** The interface went away; `leaving` when it said so first (its server stopped normally). */
  onGone?(server: string, leaving: boolean, session: InterfaceSession): void;
}

interface Pending {
  resolve(m: FromInterface): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class InterfaceListener {
  private server: Server | undefined;
  /** Each server's processes: several when it runs as a cluster (Node cluster, PM2 workers). */
  private readonly sessions = new Map<string, Set<InterfaceSession>>();
  private readonly sockets = new Set<Socket>();
  /** Hellos refused for want of the key's proof, since start. */
  refusedHellos = 0;
  /** Lines and records refused since start (a bad record in a good batch counts alone). */
  invalid = 0;
  private lastWarning = 0;
  /** Warnings not logged since the last one that was. */
  private unsaid = 0;

  constructor(private readonly o: InterfaceListenerOptions) {}

  session(server: string): InterfaceSession | undefined {
    const all = this.sessions.get(server);
    return all ? [...all][0] : undefined;
  }

  servers(): string[] {
    return [...this.sessions.keys()];
  }

  async start(): Promise<void> {
    // A socket file left by an agent that died would make listen fail; one a live agent
    // listens on is that agent's, and taking it over would cut its interfaces off.
    if (existsSync(this.o.path)) {
      if (await answers(this.o.path))
        throw new Error(
          `another agent is listening on ${this.o.path}; stop it first, or give this one its own socket`,
        );
      unlinkSync(this.o.path);
    }
    const server = createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.path, () => {
        server.off('error', reject);
        // Only the agent's user and group may dial (the web servers' users join the group).
        chmodSync(this.o.path, this.o.mode ?? 0o660);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    if (!server) return Promise.resolve();
    return new Promise((r) => server.close(() => r()));
  }

  /**
   * One warning a second at most about bad input: a broken or hostile interface sends
   * thousands. The count of what was refused is in `invalid` (and said with the next warning).
   */
  private warnRarely(server: string | undefined, error: string, text: string): void {
    const now = Date.now();
    if (now - this.lastWarning < 1000) {
      this.unsaid++;
      return;
    }
    this.lastWarning = now;
    this.o.log.warn(
      { server, error, invalid: this.invalid, notLogged: this.unsaid },
      this.unsaid > 0 ? `${text} (and ${this.unsaid} more refusals not logged)` : text,
    );
    this.unsaid = 0;
  }

  /**
   * A batch of request records in their compact form; refused before the interface has said
   * hello. A line refused whole still has its number: it is acknowledged with the rest, as
   * sending it again would not make it better.
   */
  private records(s: InterfaceSession | undefined, line: string, n: number | undefined): void {
    let error: string;
    let bad = 1;
    const read = readJsonLine(line);
    const server = s?.server;
    const got: RequestRecord[] = [];
    if (server === undefined) error = 'records before hello';
    else if (!read.ok) error = read.error;
    else {
      const r = decodeBatch(read.json, server, (rec) => got.push(rec));
      this.o.onRecords(s, got, n);
      if (r.error === undefined) return;
      error = r.error;
      bad = Math.max(1, r.invalid);
    }
    if (s && got.length === 0 && server !== undefined && !read.ok) this.o.onRecords(s, got, n);
    this.invalid += bad;
    this.warnRarely(server, error, `records from interface ${server ?? '(unnamed)'} refused: ${error}`);
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    let name: string | undefined;
    let mine: InterfaceSession | undefined;
    let nextId = 1;
    /** The number of the next records line, when the interface numbers them. */
    let nextLine: number | undefined;
    let leaving = false;
    const pending = new Map<number, Pending>();
    // Every connection starts with a challenge; the hello must answer it (D50).
    const nonce = newNonce();
    socket.write(`${JSON.stringify({ op: 'challenge', nonce })}\n`);
    const send = (c: ToInterface) => socket.write(`${JSON.stringify(c)}\n`);
    const ask = (c: DistributiveOmit<ToInterface, 'id'>, timeout = 2000) =>
      new Promise<FromInterface>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`interface ${name} did not answer "${c.op}" within ${timeout} ms`));
        }, timeout);
        pending.set(id, { resolve, reject, timer });
        send({ ...c, id } as ToInterface);
      });

    socket.on('error', () => {});
    const onLine = (line: string) => {
      if (line.charCodeAt(0) === 0x5b /* [ */) {
        this.records(mine, line, nextLine === undefined ? undefined : nextLine++);
        return;
      }
      const p = parseLine(fromInterfaceSchema, line);
      if (!p.ok) {
        this.invalid++;
        this.warnRarely(name, p.error, `line from interface ${name ?? '(unnamed)'} refused: ${p.error}`);
        return;
      }
      const m = p.value;
      if (m.t === 'hello') {
        if (mine !== undefined) return; // one hello a connection
        const key = this.o.key;
        if (key && !proofMatches(key, nonce, m.server, m.pid, m.proof)) {
          this.invalid++;
          this.refusedHellos++;
          this.warnRarely(
            m.server,
            'no proof',
            `a process (pid ${m.pid}) said it serves ${m.server} without the agent's key: refused (it needs read access to ${this.o.keyFile ?? 'the key file beside the socket'})`,
          );
          socket.destroy();
          return;
        }
        name = m.server;
        nextLine = m.instance !== undefined ? (m.first ?? 1) : undefined;
        const session: InterfaceSession = {
          server: m.server,
          pid: m.pid,
          ...(m.instance !== undefined ? { instance: m.instance } : {}),
          spooled: (seq) => {
            if (!socket.destroyed) socket.write(`${JSON.stringify({ op: 'spooled', seq })}\n`);
          },
          command: async (c, timeout) => {
            const r = await ask(c, timeout);
            return r.t === 'result'
              ? { ok: r.ok, data: r.data, error: r.error }
              : { ok: false, error: 'unexpected answer' };
          },
          figures: async (timeout) => {
            const r = await ask({ op: 'figures' }, timeout);
            if (r.t !== 'figures') throw new Error('unexpected answer to figures');
            return { figures: r.figures, refused: r.refused, redirected: r.redirected };
          },
        };
        mine = session;
        const all = this.sessions.get(m.server) ?? new Set<InterfaceSession>();
        all.add(session);
        this.sessions.set(m.server, all);
        this.o.log.info(
          { server: m.server, pid: m.pid },
          `interface of ${m.server} connected (pid ${m.pid})`,
        );
        this.o.onHello?.(session);
        return;
      }
      if (name === undefined) {
        this.invalid++;
        return;
      }
      if (m.t === 'bye') leaving = true;
      else if (m.t === 'overflow') this.o.onOverflow(name, m.dropped, m.reason);
      else {
        const p2 = pending.get(m.id);
        if (p2) {
          pending.delete(m.id);
          clearTimeout(p2.timer);
          p2.resolve(m);
        }
      }
    };
    // Bounded as it streams: a line without end is dropped at MAX_LINE_BYTES, not buffered.
    readBoundedLines(socket, MAX_LINE_BYTES, onLine, () => {
      this.invalid++;
      if (nextLine !== undefined) nextLine++; // it was a line all the same
      this.warnRarely(
        name,
        'line too long',
        `line from interface ${name ?? '(unnamed)'} refused: longer than ${MAX_LINE_BYTES} bytes`,
      );
    });
    socket.on('close', () => {
      this.sockets.delete(socket);
      for (const p of pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`interface ${name} went away`));
      }
      // Only this process's session goes; the server's other processes (if any) stay.
      const all = name !== undefined ? this.sessions.get(name) : undefined;
      if (name !== undefined && mine !== undefined && all?.delete(mine)) {
        if (all.size === 0) this.sessions.delete(name);
        if (!leaving)
          this.o.log.warn(
            { server: name, pid: mine.pid },
            `interface of ${name} (pid ${mine.pid}) disconnected`,
          );
        this.o.onGone?.(name, leaving, mine);
      }
    });
  }
}

/** Whether something listens on the Unix socket at `path` (a stale file refuses at once). */
export function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    const done = (v: boolean) => {
      c.destroy();
      resolve(v);
    };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}
