import { SwitchyardError } from '../errors.js';

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
