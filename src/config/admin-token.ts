import { createHash, timingSafeEqual } from 'node:crypto';
import { ensureSecret, generatedSecretPath, readSecret, type SecretSpec } from './secret-file.js';

/**
 * Where the admin token comes from, in order: SWITCHYARD_TOKEN, the file the site file names
 * (interceptor.adminTokenFile), or a token generated on first start and kept in
 * `.switchyard/admin-token` beside the site file, where `ctl` finds it too (secret-file.ts).
 */
const ADMIN_TOKEN: SecretSpec = {
  env: 'SWITCHYARD_TOKEN',
  key: 'interceptor.adminTokenFile',
  generated: 'admin-token',
};

export function generatedTokenPath(siteFile: string): string {
  return generatedSecretPath(siteFile, ADMIN_TOKEN.generated);
}

export function readToken(siteFile: string | undefined, tokenFile: string | undefined): string | undefined {
  return readSecret(ADMIN_TOKEN, siteFile, tokenFile);
}

/** The token for the interceptor: as readToken, else a new one written beside the site file. */
export function ensureToken(
  siteFile: string,
  tokenFile: string | undefined,
): { token: string; source: string } {
  const { secret, source } = ensureSecret(ADMIN_TOKEN, siteFile, tokenFile);
  return { token: secret, source };
}

/** Constant-time comparison of a presented bearer token with the expected one. */
export function tokenMatches(header: string | undefined, expected: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const a = createHash('sha256').update(header.slice(7).trim()).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
