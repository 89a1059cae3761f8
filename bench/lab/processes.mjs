// The processes one lab cell or one report-lag measurement starts: each one's stderr kept for
// when it dies, the first unexpected death remembered, and all of them stopped together
// (SIGTERM, then SIGKILL after five seconds).
import { spawn } from 'node:child_process';
import { BenchError } from '../common.mjs';

/**
 * What a process that died said about it: the lines naming an error (a crash's stack ends in
 * the error object's fields, which say nothing alone), else its last three lines.
 */
export function lastWords(stderr) {
  const lines = stderr.trim().split('\n');
  const errors = lines.filter((l) => /\b\w*Error\b|"level":(50|60)|^switchyard:/.test(l));
  return (errors.length > 0 ? errors : lines).slice(-3).join(' | ');
}

/** Polls `check` every `every` ms until it gives a value other than false or undefined. */
export async function waitFor(what, check, ms, every = 100) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch {}
    if (Date.now() > end) throw new BenchError(`${what}: not ready after ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export class ProcessGroup {
  /** The first unexpected death, in words; undefined while all live. */
  failed;
  children = [];

  constructor(options) {
    this.options = options;
  }

  /** Starts a process; its stdout is drained, its stdin left open for whoever wants it. */
  start(name, cmd, args) {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...this.options });
    let err = '';
    child.stderr.on('data', (b) => {
      err = (err + b).slice(-4000);
    });
    child.stdout.resume();
    child.on('exit', (code, signal) => {
      if (!child.stopping) this.failed ??= `${name} exited (${code ?? signal}): ${lastWords(err)}`;
    });
    this.children.push(child);
    return child;
  }

  /** Throws the first unexpected death, if there was one. */
  check() {
    if (this.failed) throw new BenchError(this.failed);
  }

  async stop() {
    const live = this.children.filter((ch) => ch.exitCode === null && ch.signalCode === null);
    for (const ch of this.children) ch.stopping = true;
    await Promise.all(
      live.map(
        (ch) =>
          new Promise((ok) => {
            const t = setTimeout(() => ch.kill('SIGKILL'), 5000);
            ch.on('exit', () => {
              clearTimeout(t);
              ok();
            });
            ch.kill('SIGTERM');
          }),
      ),
    );
  }
}
