import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SwitchyardError } from '../errors.js';

/**
 * Where the admin token comes from, in order: SWITCHYARD_TOKEN, the file the site file names
 * (interceptor.adminTokenFile), or a token generated on first start and kept, readable by
 * its owner only, in `.switchyard/admin-token` beside the site file, where `ctl` finds it
 * too. The token itself is never logged.
 */
export function generatedTokenPath(siteFile: string): string {
  return join(dirname(resolve(siteFile)), '.switchyard', 'admin-token');
}

export function readToken(siteFile: string | undefined, tokenFile: string | undefined): string | undefined {
  const env = process.env.SWITCHYARD_TOKEN;
  if (env) return env.trim();
  if (tokenFile && siteFile) {
    const p = resolve(dirname(resolve(siteFile)), tokenFile);
    try {
      return readFileSync(p, 'utf8').trim();
    } catch (e) {
      throw new SwitchyardError(
        'SY_ERR_CONFIG',
        `interceptor.adminTokenFile: cannot read "${p}": ${(e as Error).message}`,
      );
    }
  }
  if (siteFile) {
    const p = generatedTokenPath(siteFile);
    if (existsSync(p)) return readFileSync(p, 'utf8').trim();
  }
  return undefined;
}

/** The token for the interceptor: as readToken, else a new one written beside the site file. */
export function ensureToken(
  siteFile: string,
  tokenFile: string | undefined,
): { token: string; source: string } {
  const existing = readToken(siteFile, tokenFile);
  if (existing) {
    const source = process.env.SWITCHYARD_TOKEN
      ? 'SWITCHYARD_TOKEN'
      : (tokenFile ?? generatedTokenPath(siteFile));
    return { token: existing, source };
  }
  const p = generatedTokenPath(siteFile);
  const token = randomBytes(24).toString('base64url');
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  writeFileSync(p, `${token}\n`, { mode: 0o600 });
  chmodSync(p, 0o600);
  return { token, source: p };
}

/** Constant-time comparison of a presented bearer token with the expected one. */
export function tokenMatches(header: string | undefined, expected: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const a = createHash('sha256').update(header.slice(7).trim()).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
