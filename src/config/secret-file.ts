import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SwitchyardError } from '../errors.js';

/**
 * Secrets a site needs (the admin token, the site secret components prove to the manager)
 * come from, in order: an environment variable, a file the site file names, or a value
 * generated on first start and kept, readable by its owner only, in `.switchyard/` beside
 * the site file, where every component on the machine (and `ctl`) finds it. A secret is
 * never logged; only where it came from is.
 */
export interface SecretSpec {
  /** Environment variable, e.g. SWITCHYARD_SECRET. */
  env: string;
  /** Config key naming the file, for error messages, e.g. "manager.secretFile". */
  key: string;
  /** File name under .switchyard/ when generated, e.g. "site-secret". */
  generated: string;
}

export function generatedSecretPath(siteFile: string, name: string): string {
  return join(dirname(resolve(siteFile)), '.switchyard', name);
}

/** The secret if one exists (environment, named file, generated file), else undefined. */
export function readSecret(
  spec: SecretSpec,
  siteFile: string | undefined,
  file: string | undefined,
): string | undefined {
  const env = process.env[spec.env]?.trim();
  if (env) return env;
  if (file && siteFile) {
    const p = resolve(dirname(resolve(siteFile)), file);
    let text: string;
    try {
      text = readFileSync(p, 'utf8').trim();
    } catch (e) {
      throw new SwitchyardError('SY_ERR_CONFIG', `${spec.key}: cannot read "${p}": ${(e as Error).message}`);
    }
    if (!text) throw new SwitchyardError('SY_ERR_CONFIG', `${spec.key}: "${p}" is empty`);
    return text;
  }
  if (siteFile) {
    const p = generatedSecretPath(siteFile, spec.generated);
    if (existsSync(p)) return readFileSync(p, 'utf8').trim() || undefined;
  }
  return undefined;
}

/** As readSecret, else a new random secret written beside the site file. */
export function ensureSecret(
  spec: SecretSpec,
  siteFile: string,
  file: string | undefined,
): { secret: string; source: string } {
  const existing = readSecret(spec, siteFile, file);
  if (existing) {
    const source = process.env[spec.env]?.trim()
      ? spec.env
      : (file ?? generatedSecretPath(siteFile, spec.generated));
    return { secret: existing, source };
  }
  const p = generatedSecretPath(siteFile, spec.generated);
  const secret = randomBytes(24).toString('base64url');
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  // 'wx': two components starting at once must not both write; the loser reads the winner's.
  try {
    writeFileSync(p, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      return { secret: readFileSync(p, 'utf8').trim(), source: p };
    throw e;
  }
  chmodSync(p, 0o600);
  return { secret, source: p };
}

export const SITE_SECRET: SecretSpec = {
  env: 'SWITCHYARD_SECRET',
  key: 'manager.secretFile',
  generated: 'site-secret',
};

/**
 * The site secret for a component other than the manager: it must already exist (the
 * manager, or `switchyard up`, creates it on first start), since a secret a component made up
 * on its own could only be refused.
 */
export function componentSecret(siteFile: string, file: string | undefined): string {
  const s = readSecret(SITE_SECRET, siteFile, file);
  if (s) return s;
  throw new SwitchyardError(
    'SY_ERR_CONFIG',
    `no site secret: set SWITCHYARD_SECRET, name a file in manager.secretFile, or start the manager first (it writes ${generatedSecretPath(siteFile, SITE_SECRET.generated)})`,
  );
}
