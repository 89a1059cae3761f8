/**
 * Every error Switchyard reports on purpose, with a stable code, whether trying again may
 * help, and the HTTP status it maps to. Operators grep for the codes; tests match on them.
 *
 * @example
 * throw new SwitchyardError('SY_ERR_CONFIG', 'site.yaml: servers[0].url: expected an http(s) URL');
 */

export const ERROR_CODES = {
  SY_ERR_CONFIG: { status: 500, retryable: false, text: 'the site file is invalid' },
  SY_ERR_NO_APPLICATION: { status: 404, retryable: false, text: 'no application matches this request' },
  SY_ERR_NO_SERVER: { status: 503, retryable: true, text: 'no server can take this request now' },
  SY_ERR_APP_DISABLED: { status: 503, retryable: true, text: 'the application is disabled' },
  SY_ERR_OVERLOADED: { status: 503, retryable: true, text: 'too many requests for this application' },
  SY_ERR_BAD_REQUEST: { status: 400, retryable: false, text: 'malformed request' },
  SY_ERR_URI_TOO_LONG: { status: 414, retryable: false, text: 'request target too long' },
  SY_ERR_UNAUTHORIZED: { status: 401, retryable: false, text: 'missing or wrong admin token' },
  SY_ERR_NOT_FOUND: { status: 404, retryable: false, text: 'no such object' },
  SY_ERR_UNREACHABLE: { status: 502, retryable: true, text: 'could not connect' },
  SY_ERR_TIMEOUT: { status: 504, retryable: true, text: 'timed out' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string) {
    super(message ?? ERROR_CODES[code].text);
    this.name = 'SwitchyardError';
    this.code = code;
  }
  get status(): number {
    return ERROR_CODES[this.code].status;
  }
  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
}
