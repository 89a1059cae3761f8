/**
 * What went wrong between the gateway and a server, from undici's and the socket's error
 * codes: it decides the status the client gets (502 or 504), whether the request may go to
 * another server, and the reason counted in /metrics.
 *
 * @example
 * failureOf(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })); // 'connect'
 */

export const FAILURE_KINDS = [
  'connect',
  'connect-timeout',
  'response-timeout',
  'body-timeout',
  'closed',
  'invalid',
  'other',
] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

const CONNECT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);
const CLOSED = new Set([
  'UND_ERR_SOCKET',
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

export function failureOf(err: Error & { code?: string; cause?: unknown }): FailureKind {
  const code = err.code ?? (err.cause as { code?: string } | undefined)?.code ?? '';
  if (CONNECT.has(code)) return 'connect';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect-timeout';
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return 'response-timeout';
  if (code === 'UND_ERR_BODY_TIMEOUT') return 'body-timeout';
  if (CLOSED.has(code)) return 'closed';
  if (code.startsWith('HPE_') || code === 'UND_ERR_INFO' || err.name === 'HTTPParserError') return 'invalid';
  return 'other';
}

/** The request cannot have reached the server: it may go to another whatever its method. */
export function neverReached(kind: FailureKind): boolean {
  return kind === 'connect' || kind === 'connect-timeout';
}
