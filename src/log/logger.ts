import { type Logger, pino } from 'pino';

/**
 * JSON-lines logger for every component: one line per event on stdout, with the component's
 * name on each line. Secrets never go in: the admin token has no field here and the
 * `authorization` header is redacted should a request ever be logged whole.
 *
 * @example
 * const log = createLogger('interceptor'); log.info({ port: 8080 }, 'listening');
 */
export function createLogger(component: string, level = process.env.SWITCHYARD_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { component },
    redact: ['req.headers.authorization', 'headers.authorization', 'token'],
  });
}

export type { Logger };
