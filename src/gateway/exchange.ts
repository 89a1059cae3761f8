import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';

/**
 * One try of a proxied request, as undici's dispatch handler: the server's answer is written
 * to the client as it comes (status and headers, then each chunk, the server paused while the
 * client's socket is full), and the client's going away aborts the request at the server, at
 * any point of it, even while it waits in the pool.
 *
 * Why not `Pool.stream`: under load its promise, its AsyncResource scope, the `finished()`
 * listeners it puts on the response and the abort signal it needs took about a tenth of the
 * gateway's CPU, and the signal kept enough alive that every young-generation collection
 * took twice as long (docs/gateway.md, BENCHMARKS.md). This is the handler shape undici's
 * own dispatchers use (onConnect, onHeaders, onData, onComplete, onError).
 *
 * @example
 * pool.dispatch({ path, method, headers, body }, new Exchange(res, {
 *   started: (status, raw) => { res.writeHead(status, responseHeaders(raw)); },
 *   ended: (err) => { ... },
 * }));
 */
export interface ExchangeEvents {
  /** The server's status and raw headers (Buffers, flat): write them to the client now. */
  started(statusCode: number, rawHeaders: Buffer[]): void;
  /**
   * The exchange is over: `err` undefined when the whole answer was passed on; else why it
   * failed (`headersSent` says whether any of it reached the client).
   */
  ended(err: (Error & { code?: string }) | undefined, headersSent: boolean): void;
}

export class Exchange implements Dispatcher.DispatchHandler {
  /** The client went away: undici is told to stop, and nobody is answered. */
  gone = false;
  private abortFn: ((err: Error) => void) | undefined;
  private resume: (() => void) | undefined;
  private waitingDrain = false;
  private headersSent = false;
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly events: ExchangeEvents,
  ) {}

  /** The client's response closed before it finished: stop the server's work too. */
  clientGone(): void {
    if (this.done || this.gone) return;
    this.gone = true;
    this.abortFn?.(new Error('the client went away'));
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.gone) abort(new Error('the client went away'));
    else this.abortFn = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx: Node's server has answered Expect itself, and a client gets no other interim answer.
    if (statusCode < 200) return true;
    this.headersSent = true;
    this.resume = resume;
    this.events.started(statusCode, rawHeaders);
    return !this.res.writableNeedDrain || this.wait();
  }

  onData(chunk: Buffer): boolean {
    return this.res.write(chunk) || this.wait();
  }

  onComplete(): void {
    if (this.done) return;
    this.done = true;
    this.res.end();
    this.events.ended(undefined, true);
  }

  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.events.ended(err, this.headersSent);
  }

  /** The client's socket is full: the server is paused until it drains. Returns false. */
  private wait(): false {
    if (!this.waitingDrain) {
      this.waitingDrain = true;
      this.res.once('drain', this.drained);
    }
    return false;
  }

  private readonly drained = (): void => {
    this.waitingDrain = false;
    if (!this.done) this.resume?.();
  };
}
