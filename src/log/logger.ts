import { type Logger, pino } from 'pino';
import { PinoPretty } from 'pino-pretty';

/**
 * The logger of every component: one event a line on stdout, with the component's name on
 * each. JSON lines for files, pipes and log shippers; readable lines (pino-pretty) when
 * stdout is a person's terminal. `SWITCHYARD_LOG_FORMAT=json` or `pretty` chooses either way.
 * Secrets never go in: the admin token has no field here and the `authorization` header is
 * redacted should a request ever be logged whole.
 *
 * @example
 * const log = createLogger('interceptor'); log.info({ port: 8080 }, 'listening');
 */
export function createLogger(component: string, level = process.env.SWITCHYARD_LOG_LEVEL ?? 'info'): Logger {
  const options = {
    level,
    base: { component },
    redact: ['req.headers.authorization', 'headers.authorization', 'token'],
  };
  if (!pretty()) return pino(options);
  // Synchronous, in this thread: a line is on the terminal before the process can exit.
  return pino(
    options,
    PinoPretty({
      sync: true,
      colorize: process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,component',
      messageFormat: '{component}: {msg}',
      hideObject: false,
      singleLine: true,
    }),
  );
}

/** Readable lines: asked for, or a terminal unless JSON is asked for. */
function pretty(): boolean {
  const f = process.env.SWITCHYARD_LOG_FORMAT;
  if (f === 'pretty') return true;
  if (f === 'json') return false;
  return process.stdout.isTTY === true;
}

export type { Logger };
