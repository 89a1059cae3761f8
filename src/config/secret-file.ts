import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SwitchyardError } from '../errors.js';

/**
 * Secrets a site needs (the admin token, the keys of D52)
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

/**
 * One key per job (D52, replacing D16's and D25's one site secret). The mark key signs
 * redirect marks: every web server's interface holds it, so it opens nothing. The agent and
 * interceptor keys are the credentials those roles prove to the manager, and the manager
 * answers with the same key, so each side knows the other is genuine. Operators hold the
 * admin token (admin-token.ts), the only authority over overrides.
 */
export const KEYS = {
  mark: { env: 'SWITCHYARD_MARK_KEY', key: 'manager.keys.mark', generated: 'mark-key' },
  agent: { env: 'SWITCHYARD_AGENT_KEY', key: 'manager.keys.agent', generated: 'agent-key' },
  interceptor: {
    env: 'SWITCHYARD_INTERCEPTOR_KEY',
    key: 'manager.keys.interceptor',
    generated: 'interceptor-key',
  },
} as const satisfies Record<string, SecretSpec>;

export type KeyName = keyof typeof KEYS;

/** Files the site file names for the keys (manager.keys), relative to the site file. */
export type KeyFiles = Partial<Record<KeyName, string>>;

/**
 * Every key of the site, generated beside the site file where none is given: the manager
 * and `switchyard up` call this on start, as they make the admin token.
 */
export function ensureKeys(
  siteFile: string,
  files: KeyFiles | undefined,
): Record<KeyName, { secret: string; source: string }> {
  return {
    mark: ensureSecret(KEYS.mark, siteFile, files?.mark),
    agent: ensureSecret(KEYS.agent, siteFile, files?.agent),
    interceptor: ensureSecret(KEYS.interceptor, siteFile, files?.interceptor),
  };
}

/**
 * A key for a component other than the manager: it must already exist (the manager, or
 * `switchyard up`, creates it on first start), since a key a component made up on its own
 * could only be refused.
 */
export function componentKey(name: KeyName, siteFile: string, files: KeyFiles | undefined): string {
  const spec = KEYS[name];
  const s = readSecret(spec, siteFile, files?.[name]);
  if (s) return s;
  const old = process.env.SWITCHYARD_SECRET?.trim()
    ? ' (SWITCHYARD_SECRET, the one site secret of earlier versions, is no longer read: each job has its own key, docs/security.md)'
    : '';
  throw new SwitchyardError(
    'SY_ERR_CONFIG',
    `no ${name} key: set ${spec.env}, name a file in ${spec.key}, or start the manager first (it writes ${generatedSecretPath(siteFile, spec.generated)})${old}`,
  );
}
