import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { SwitchyardError } from '../errors.js';
import { type ManagerConfig, managerSpeaksTls } from './monitoring-schema.js';
import { generatedSecretPath } from './secret-file.js';

/**
 * The manager's TLS files (D53). Given in the site file (manager.tls.cert, key, ca), they are
 * read as they are. Otherwise the manager (or `switchyard up`) makes them on first start in
 * `.switchyard/tls/` beside the site file: a site CA (ca.pem; its key ca-key.pem, 0600) and a
 * certificate for the manager signed by it (manager.pem, manager-key.pem), naming every
 * address components may dial. Components trust the CA, so the manager's certificate can be
 * made again (a new address) without touching any host.
 */

export interface ManagerTlsFiles {
  cert: string;
  key: string;
  /** Where the certificate came from, for the log line (never the key). */
  source: string;
}

type TlsConfig = Pick<ManagerConfig, 'tls' | 'listen' | 'url'>;

export function generatedTlsDir(siteFile: string): string {
  return generatedSecretPath(siteFile, 'tls');
}

const fromSite = (siteFile: string, file: string) => resolve(dirname(resolve(siteFile)), file);

function readPem(key: string, path: string): string {
  try {
    const text = readFileSync(path, 'utf8');
    if (!text.includes('-----BEGIN ')) throw new Error('not a PEM file');
    return text;
  } catch (e) {
    throw new SwitchyardError('SY_ERR_CONFIG', `${key}: cannot read "${path}": ${(e as Error).message}`);
  }
}

/** Host names and addresses the manager's certificate must name, from where it listens and its URL. */
export function certificateHosts(m: TlsConfig, listen = m.listen): string[] {
  const hosts = new Set(['localhost', '127.0.0.1', '::1', hostname()]);
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  if (host === '0.0.0.0' || host === '::') {
    // Every address: components may dial any of this machine's.
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) if (!a.address.startsWith('fe80:')) hosts.add(a.address);
  } else hosts.add(host);
  if (m.url) hosts.add(new URL(m.url).hostname.replace(/^\[|\]$/g, ''));
  return [...hosts];
}

const isIp = (h: string) => /^[\d.]+$/.test(h) || h.includes(':');

function covers(certPem: string, hosts: string[]): boolean {
  try {
    const c = new X509Certificate(certPem);
    if (new Date(c.validTo).getTime() < Date.now() + 30 * 86_400_000) return false;
    return hosts.every((h) => (isIp(h) ? c.checkIP(h) : c.checkHost(h)) !== undefined);
  } catch {
    return false;
  }
}

function writeAtomically(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

const DAY = 86_400_000;

/**
 * The manager's certificate and key: the site file's, or the generated ones, made (or made
 * again, when they no longer name every address or are about to expire) now.
 */
export async function ensureManagerTls(
  siteFile: string,
  m: TlsConfig,
  listen = m.listen,
): Promise<ManagerTlsFiles> {
  const given = m.tls || {};
  if (given.cert !== undefined && given.key !== undefined) {
    const certFile = fromSite(siteFile, given.cert);
    return {
      cert: readPem('manager.tls.cert', certFile),
      key: readPem('manager.tls.key', fromSite(siteFile, given.key)),
      source: certFile,
    };
  }
  const dir = generatedTlsDir(siteFile);
  const files = {
    ca: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca-key.pem'),
    cert: join(dir, 'manager.pem'),
    key: join(dir, 'manager-key.pem'),
  };
  const hosts = certificateHosts(m, listen);
  if (existsSync(files.cert) && existsSync(files.key) && covers(readFileSync(files.cert, 'utf8'), hosts))
    return {
      cert: readFileSync(files.cert, 'utf8'),
      key: readFileSync(files.key, 'utf8'),
      source: files.cert,
    };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Loaded only to make certificates: it pulls in an ASN.1 stack every component would
  // otherwise parse at each start.
  const { generate } = await import('selfsigned');
  const now = new Date();
  let ca: { cert: string; key: string };
  if (existsSync(files.ca) && existsSync(files.caKey))
    ca = { cert: readFileSync(files.ca, 'utf8'), key: readFileSync(files.caKey, 'utf8') };
  else {
    const made = await generate([{ name: 'commonName', value: `switchyard site CA (${hostname()})` }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notBeforeDate: now,
      notAfterDate: new Date(now.getTime() + 10 * 365 * DAY),
      extensions: [
        { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      ],
    });
    ca = { cert: made.cert, key: made.private };
    writeAtomically(files.caKey, ca.key, 0o600);
    writeAtomically(files.ca, ca.cert, 0o644);
  }
  const leaf = await generate([{ name: 'commonName', value: 'switchyard manager' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: now,
    // Under 398 days, as clients that check certificate lifetimes expect; made again on a
    // start within 30 days of its end.
    notAfterDate: new Date(now.getTime() + 397 * DAY),
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: hosts.map((h) => (isIp(h) ? { type: 7 as const, ip: h } : { type: 2 as const, value: h })),
      },
    ],
  });
  writeAtomically(files.key, leaf.private, 0o600);
  writeAtomically(files.cert, leaf.cert, 0o644);
  return { cert: leaf.cert, key: leaf.private, source: files.cert };
}

/**
 * The CA a component trusts for the manager's certificate: manager.tls.ca, else the generated
 * site CA when the manager's certificate is generated, else undefined: the system's CAs, for
 * a certificate from a public CA, or for a wss:// URL of a proxy that terminates TLS in front
 * of a manager on loopback.
 */
export function managerCa(siteFile: string, m: TlsConfig): string | undefined {
  if (!managerSpeaksTls(m)) return undefined;
  const given = m.tls || {};
  if (given.ca !== undefined) return readPem('manager.tls.ca', fromSite(siteFile, given.ca));
  if (given.cert !== undefined) return undefined;
  const ca = join(generatedTlsDir(siteFile), 'ca.pem');
  if (existsSync(ca)) return readPem('manager.tls.ca', ca);
  throw new SwitchyardError(
    'SY_ERR_CONFIG',
    `the manager speaks TLS but there is no site CA at ${ca}: start the manager first (it makes one), copy that file here, or name one in manager.tls.ca`,
  );
}
