import { SwitchyardError } from '../errors.js';
import type { Logger } from '../log/logger.js';

/** Exit codes of every command: scripts may rely on them. */
export const EXIT = {
  ok: 0,
  /** The request was refused or failed (unknown name, bad value, server said no). */
  failed: 1,
  /** Wrong usage or an invalid site file. */
  usage: 2,
  /** The admin endpoint could not be reached. */
  unreachable: 3,
  /** The admin token was missing or wrong. */
  unauthorized: 4,
} as const;

/** Prints one line to stderr and exits. */
export function fail(message: string, code: number = EXIT.failed): never {
  process.stderr.write(`switchyard: ${message}\n`);
  process.exit(code);
}

/** For a command's top level: turns any error into one line and an exit code. */
export function failFrom(e: unknown): never {
  if (e instanceof SwitchyardError) {
    const code =
      e.code === 'SY_ERR_CONFIG'
        ? EXIT.usage
        : e.code === 'SY_ERR_UNREACHABLE' || e.code === 'SY_ERR_TIMEOUT'
          ? EXIT.unreachable
          : e.code === 'SY_ERR_UNAUTHORIZED'
            ? EXIT.unauthorized
            : EXIT.failed;
    fail(e.message, code);
  }
  fail(e instanceof Error ? e.message : String(e));
}

/** A whole number >= min from a command-line flag, or one line and exit 2. */
export function wholeNumber(command: string, flag: string, text: string, min: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min)
    fail(`${command}: ${flag} must be a whole number >= ${min}, got ${text}`, EXIT.usage);
  return n;
}

/**
 * Stops a long-running command cleanly on SIGTERM or Ctrl-C: logs the signal (with `fields`
 * at that moment), waits for `close`, exits 0.
 */
export function stopOnSignals(
  log: Logger,
  close: () => Promise<void>,
  fields: () => object = () => ({}),
): void {
  const stop = (signal: string) => {
    log.info({ signal, ...fields() }, `${signal} received: stopping`);
    void close().then(() => process.exit(EXIT.ok));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/**
 * SIGHUP, for a component that reloads nothing: said and ignored. Unhandled, Node's default
 * ends the process at once (exit 129, no clean stop), which a `kill -HUP` meant as "reload"
 * must not do (issue 29).
 */
export function ignoreHangup(log: Logger, component: string): void {
  process.on('SIGHUP', () =>
    log.warn(
      { signal: 'SIGHUP' },
      `SIGHUP received and ignored: the ${component} reloads nothing; restart it to read a changed site file`,
    ),
  );
}
