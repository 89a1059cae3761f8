import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from '../log/logger.js';

/**
 * The web server process a sidecar runs behind it, when it was given one to run
 * (`switchyard sidecar ... -- python3 -m http.server 8001`): started with the sidecar,
 * stopped and started again on the agent's `stop-server` / `start-server` commands (document
 * 002's interface starts and stops its server), and stopped when the sidecar stops. A server
 * that exits by itself is logged and left stopped: bringing parts back is the watcher's job,
 * and a crash loop should be seen, not hidden.
 *
 * @example
 * const p = new ServerProcess({ command: ['python3', '-m', 'http.server', '8001'], log });
 * await p.start();   // { pid: 1234 }
 * await p.stop();    // SIGTERM, then SIGKILL after stopTimeout
 */

export interface ServerProcessOptions {
  /** The program and its arguments; no shell. */
  command: string[];
  log: Logger;
  /** After SIGTERM, how long to wait before SIGKILL, ms. Default 10 s. */
  stopTimeout?: number;
}

export class ServerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  /** Set while stop() runs, so the exit it causes is not reported as a crash. */
  private stopping = false;

  constructor(private readonly o: ServerProcessOptions) {
    if (o.command.length === 0) throw new Error('no command to run');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts the server unless it runs; resolves once it is spawned, rejects if it cannot be. */
  start(): Promise<{ pid: number }> {
    if (this.child?.pid !== undefined) return Promise.resolve({ pid: this.child.pid });
    const [program, ...args] = this.o.command as [string, ...string[]];
    const child = spawn(program, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (this.child === child) {
          this.child = undefined;
          if (!this.stopping)
            this.o.log.warn(
              { pid: child.pid, code, signal },
              `the web server (${program}, pid ${child.pid}) exited by itself (${signal ?? `code ${code}`}); it stays stopped until started again`,
            );
        }
        resolve();
      });
    });
    return new Promise((resolve, reject) => {
      child.once('spawn', () => {
        this.o.log.info(
          { pid: child.pid, command: this.o.command },
          `started the web server: ${program} (pid ${child.pid})`,
        );
        resolve({ pid: child.pid! });
      });
      child.once('error', (e) => {
        if (this.child === child) this.child = undefined;
        reject(new Error(`cannot start the web server "${program}": ${e.message}`));
      });
    });
  }

  /** Stops the server: SIGTERM, then SIGKILL if it has not exited within stopTimeout. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    try {
      child.kill('SIGTERM');
      const timeout = this.o.stopTimeout ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.o.log.warn({ pid: child.pid }, `the web server did not stop within ${timeout} ms; killing it`);
          child.kill('SIGKILL');
          resolve();
        }, timeout);
      });
      await Promise.race([this.exited, killed]);
      clearTimeout(timer);
      await this.exited;
      this.o.log.info({ pid: child.pid }, `stopped the web server (pid ${child.pid})`);
    } finally {
      this.stopping = false;
    }
  }
}
