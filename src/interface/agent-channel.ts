import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { type BackoffParams, backoffDelay } from '../core/backoff.js';
import type { Logger } from '../log/logger.js';
import { readBoundedLines } from '../protocol/line-reader.js';
import type { FromInterface, ToInterface } from '../protocol/local.js';
import { checkCommand } from '../protocol/local-command.js';
import { localProof, readLocalKey } from '../protocol/local-proof.js';
import { MAX_LINE_BYTES, RecordBatch, type RecordSink } from '../protocol/local-record.js';
import type { RequestRecord } from '../protocol/messages.js';
import type { ServerInterface } from './server-interface.js';
import type { ServerProcess } from './server-process.js';

/**
 * The interface's end of the local channel to its agent: a Unix socket, one JSON value per
 * line. Records are gathered for `flushMs` (or until the batch is full) and written as one
 * compact line (local-record.ts): one write and one JSON encoding per batch, not per
 * request, which is most of what reporting costs a busy server.
 *
 * Every records line is numbered and kept (the backlog) until the agent says it has spooled
 * it (D44): a line in the socket when the agent dies is sent again to the next agent, which
 * spools it once. While no agent is there, lines wait in the backlog and the channel dials
 * again within a second. The backlog is bounded (`maxBuffer` bytes): past it new records are
 * dropped and counted, and an overflow line says how many and why once there is room again.
 * Serving is never slowed or blocked by the channel. Commands come back on the same socket
 * and act on the interface at once.
 *
 * @example
 * const ch = new AgentChannel({ path: '/run/switchyard/agent.sock', iface, log });
 * iface.reportTo(ch);
 * ch.start();
 */

export interface AgentChannelOptions {
  path: string;
  iface: ServerInterface;
  log: Logger;
  /**
   * Bytes of records lines kept until the agent acknowledges them (while it is away, too);
   * past it new records are dropped and counted. Default 4 MiB. Looked at once a batch, so
   * up to one batch more may wait.
   */
  maxBuffer?: number;
  /**
   * Longest time a record waits to be written with others, ms. Default 20: records feed the
   * store and the probe's cross-check, not the fast figures (those come from `figures`), and
   * a batch four times bigger costs the server a quarter of the timers, writes and system
   * calls.
   */
  flushMs?: number;
  /** The agent's local key file (D50). Default: the socket's path with `.key`. */
  keyFile?: string;
  /** The web server process this interface runs (a sidecar given a command), for start/stop. */
  serverProcess?: ServerProcess;
  backoff?: BackoffParams;
}

/** An agent restarted is dialled again within a second (100, 200, 400, 800 ms, then 800). */
const RECONNECT: BackoffParams = { initial: 100, factor: 2, maxAttempts: 4, jitter: 0.5 };

/** This process's id on the local channel: lines sent again after an agent's crash are known by it. */
const INSTANCE = randomBytes(8).toString('hex');

export class AgentChannel implements RecordSink {
  private socket: Socket | undefined;
  private ready = false;
  private stopped = false;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;
  /** Records dropped since the last overflow line was sent, by why. */
  private droppedAway = 0;
  private droppedSlow = 0;
  /**
   * The backlog passed maxBuffer at a flush: records are dropped until the agent acknowledges
   * enough. While all is well this is looked at once a batch, not once a record.
   */
  private backedUp = false;
  /** Records lines written or to write, not yet acknowledged as spooled, oldest first. */
  private readonly backlog: Array<{ seq: number; line: string; records: number }> = [];
  private backlogBytes = 0;
  /** The number the next records line gets. */
  private nextLine = 1;
  /** Records dropped since start. */
  dropped = 0;
  /** Records not yet written. */
  private readonly batch = new RecordBatch();
  /**
   * Writes the batch every flushMs while records come, and stops itself at the first tick
   * that finds none. An interval, not a timeout set at each batch's first record: arming a
   * fresh timeout costs Node a timer list made and dropped each time, a measurable share of
   * a batch's fixed cost (BENCHMARKS.md), where an interval is put back on its list.
   */
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly maxBuffer: number;
  private readonly flushMs: number;

  constructor(private readonly o: AgentChannelOptions) {
    this.maxBuffer = o.maxBuffer ?? 4 * 1024 * 1024;
    this.flushMs = o.flushMs ?? 20;
  }

  get connected(): boolean {
    return this.ready;
  }

  start(): void {
    this.stopped = false;
    this.dial();
  }

  /**
   * Whether the next record can be sent; if not it is dropped and counted. Never waits.
   * A batch that is full is written first, so `push` always has room.
   */
  accept(): boolean {
    if (this.batch.full) this.flush();
    if (this.backedUp) {
      this.drop(1);
      return false;
    }
    if (this.flushTimer === undefined) {
      this.flushTimer = setInterval(this.tick, this.flushMs);
      this.flushTimer.unref();
    }
    return true;
  }

  /** Adds the record `accept` let through to the batch. */
  readonly push = this.batch.push;

  /** Sends one record given as an object, or drops and counts it (tests, tools). */
  report(r: RequestRecord): void {
    if (this.accept()) this.batch.add(r);
  }

  /** The flush timer's tick: writes the batch, or stops the timer when no record came. */
  private readonly tick = (): void => {
    if (this.batch.count > 0) {
      this.flush();
      return;
    }
    clearInterval(this.flushTimer);
    this.flushTimer = undefined;
  };

  /**
   * Numbers the records gathered so far as one line, keeps it in the backlog and writes it
   * when the agent is there. A backlog past maxBuffer stops new records until the agent
   * acknowledges enough; the next line written is preceded by an overflow line.
   */
  readonly flush = (): void => {
    if (this.batch.count === 0) return;
    const records = this.batch.count;
    const line = this.batch.take();
    const entry = { seq: this.nextLine++, line, records };
    this.backlog.push(entry);
    this.backlogBytes += line.length + 1;
    if (this.backlogBytes > this.maxBuffer) this.backedUp = true;
    if (!this.ready || !this.socket) return;
    this.sayDrops();
    this.socket.write(`${line}\n`);
  };

  /** The agent spooled every line up to `seq`: they are forgotten, and new records come in again. */
  private spooled(seq: number): void {
    while (this.backlog.length > 0 && this.backlog[0]!.seq <= seq) {
      const e = this.backlog.shift()!;
      this.backlogBytes -= e.line.length + 1;
    }
    if (this.backedUp && this.backlogBytes <= this.maxBuffer / 2) this.backedUp = false;
  }

  /** Records kept for the agent, not yet acknowledged as spooled. */
  get waiting(): number {
    let n = this.batch.count;
    for (const e of this.backlog) n += e.records;
    return n;
  }

  private sayDrops(): void {
    if (this.droppedAway > 0) {
      this.write({ t: 'overflow', dropped: this.droppedAway, reason: 'agent-away' });
      this.droppedAway = 0;
    }
    if (this.droppedSlow > 0) {
      this.write({ t: 'overflow', dropped: this.droppedSlow, reason: 'agent-slow' });
      this.droppedSlow = 0;
    }
  }

  private drop(n: number): void {
    this.dropped += n;
    if (this.ready) this.droppedSlow += n;
    else this.droppedAway += n;
  }

  /**
   * The agent's local key (D50), read at each dial so a key made by an agent started after
   * this interface is found. Missing or unreadable: said once, and the hello goes without a
   * proof, which an agent that checks refuses.
   */
  private key(): Buffer | undefined {
    const file = this.o.keyFile ?? `${this.o.path}.key`;
    try {
      const k = readLocalKey(file);
      this.keyWarned = false;
      return k;
    } catch (e) {
      if (!this.keyWarned)
        this.o.log.warn(
          { keyFile: file, err: (e as Error).message },
          `interface ${this.o.iface.server}: cannot read the agent's key ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the agent will refuse this interface. Give the web server's user read access (the agent's group)`,
        );
      this.keyWarned = true;
      return undefined;
    }
  }
  private keyWarned = false;

  close(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.flushTimer);
    this.flushTimer = undefined;
    this.flush();
    // end, not destroy: what is written still reaches the agent, which spools it.
    const s = this.socket;
    if (this.ready && s) this.write({ t: 'bye' });
    s?.end();
    if (s) setTimeout(() => s.destroy(), 1000).unref();
  }

  private write(m: FromInterface): void {
    this.socket!.write(`${JSON.stringify(m)}\n`);
  }

  private dial(): void {
    if (this.stopped) return;
    const s = connect(this.o.path);
    this.socket = s;
    // The agent speaks first, with a challenge; nothing is sent before it (D50).
    let challenged = false;
    const deadline = setTimeout(() => {
      if (!challenged) s.destroy();
    }, 2000);
    deadline.unref();
    const hello = (nonce: string) => {
      challenged = true;
      clearTimeout(deadline);
      this.ready = true;
      this.failures = 0;
      const first = this.backlog[0]?.seq ?? this.nextLine;
      const key = this.key();
      this.write({
        t: 'hello',
        server: this.o.iface.server,
        pid: process.pid,
        instance: INSTANCE,
        first,
        ...(key ? { proof: localProof(key, nonce, this.o.iface.server, process.pid) } : {}),
      });
      // What the last agent did not acknowledge goes to this one; it spools each line once.
      this.sayDrops();
      for (const e of this.backlog) s.write(`${e.line}\n`);
      this.o.log.info(
        { path: this.o.path, resent: this.backlog.length },
        `interface ${this.o.iface.server} connected to its agent`,
      );
    };
    readBoundedLines(
      s,
      MAX_LINE_BYTES,
      (line) => {
        const p = checkCommand(line);
        if (!p.ok) {
          this.o.log.warn({ error: p.error }, `command from the agent refused: ${p.error}`);
          return;
        }
        const c = p.value;
        if (c.op === 'challenge') return challenged ? undefined : hello(c.nonce);
        if (!challenged) return;
        if (c.op === 'spooled') return this.spooled(c.seq);
        if (c.op === 'start-server' || c.op === 'stop-server')
          void this.runProcess(c.op, c.id).then((answer) => this.ready && this.write(answer));
        else this.write(this.run(c));
      },
      () => this.o.log.warn(`command from the agent refused: longer than ${MAX_LINE_BYTES} bytes`),
    );
    // Dial failures and resets end in 'close', which retries.
    s.on('error', () => {});
    s.on('close', () => {
      const was = this.ready;
      this.ready = false;
      // The backlog is kept for the next agent: nothing written here is known to be spooled.
      if (this.stopped) return;
      const delay = backoffDelay(this.failures++, this.o.backoff ?? RECONNECT, Math.random);
      if (was || this.failures === 1)
        this.o.log.warn(
          { path: this.o.path, retryInMs: Math.round(delay) },
          `interface ${this.o.iface.server}: no agent at ${this.o.path}; records wait for it (up to ${Math.round(this.maxBuffer / 1024)} KiB, then they are dropped)`,
        );
      this.retry = setTimeout(() => this.dial(), delay);
      this.retry.unref();
    });
  }

  private async runProcess(op: 'start-server' | 'stop-server', id: number): Promise<FromInterface> {
    const p = this.o.serverProcess;
    if (!p)
      return {
        t: 'result',
        id,
        ok: false,
        error: `the interface of ${this.o.iface.server} runs no web server process (only a sidecar given a command does)`,
      };
    try {
      if (op === 'start-server') return { t: 'result', id, ok: true, data: await p.start() };
      await p.stop();
      return { t: 'result', id, ok: true };
    } catch (e) {
      return { t: 'result', id, ok: false, error: (e as Error).message.slice(0, 1000) };
    }
  }

  private run(
    c: Exclude<ToInterface, { op: 'start-server' | 'stop-server' | 'spooled' | 'challenge' }>,
  ): FromInterface {
    const iface = this.o.iface;
    switch (c.op) {
      case 'figures': {
        const { refused, redirected, ...figures } = iface.figures();
        return { t: 'figures', id: c.id, figures, refused, redirected };
      }
      case 'redirect':
        // Renewed three times a lease while it stands: said when it starts, not each time.
        if (iface.redirectTarget !== c.target.replace(/\/+$/, ''))
          this.o.log.info(
            { target: c.target, leaseMs: c.lease },
            `interface ${iface.server}: redirecting stateless pages to ${c.target} (for ${c.lease} ms unless renewed)`,
          );
        iface.redirectTo(c.target, c.lease);
        return { t: 'result', id: c.id, ok: true };
      case 'cancel-redirect':
        iface.redirectTo(undefined);
        this.o.log.info(`interface ${iface.server}: redirect cancelled`);
        return { t: 'result', id: c.id, ok: true };
      case 'set-rules':
        iface.setRules({ mode: c.mode, pages: c.pages });
        return { t: 'result', id: c.id, ok: true };
      case 'set-mask':
        iface.setMask(c.mask);
        return { t: 'result', id: c.id, ok: true };
      case 'echo':
        return { t: 'result', id: c.id, ok: true, data: c.text };
      case 'pid':
        return { t: 'result', id: c.id, ok: true, data: process.pid };
    }
  }
}
