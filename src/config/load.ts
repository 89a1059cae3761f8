import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { SwitchyardError } from '../errors.js';
import { parseHostPort, type Site, siteSchema } from './schema.js';

/** Largest sorry page or TLS file read from disk. */
export const MAX_FILE_BYTES = 1024 * 1024;

export interface ListenSpec {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  /** HTTP/2: by ALPN beside HTTP/1.1 over TLS, or cleartext (h2c) alone. */
  http2?: boolean;
}

/** A server with its addresses resolved: base URLs have no trailing slash. */
export interface ServerAddresses {
  publicHttp?: string;
  publicHttps?: string;
  internal: string;
}

export interface LoadedSite {
  file: string;
  site: Site;
  listen: ListenSpec[];
  admin: { host: string; port: number };
  /** Sorry page HTML by application name. */
  sorryPages: Map<string, Buffer>;
  addresses: Map<string, ServerAddresses>;
}

/**
 * Reads, parses and validates a site file, and reads the files it names. Any problem throws
 * a SwitchyardError (SY_ERR_CONFIG) whose message names the file, the key's path and what
 * was expected, one problem per line.
 *
 * @example
 * const loaded = loadSite('examples/quickstart.yaml');
 */
export function loadSite(file: string): LoadedSite {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SwitchyardError('SY_ERR_CONFIG', `${file}: cannot read the site file: ${(e as Error).message}`);
  }
  return parseSite(text, file, dirname(path));
}

/** As loadSite, from text; relative file names resolve against `dir`. */
export function parseSite(text: string, file: string, dir: string): LoadedSite {
  const site = parseYamlFile(siteSchema, text, file);
  const problems: string[] = [];
  const read = (name: string, key: string): Buffer | undefined => {
    try {
      const buf = readFileSync(resolve(dir, name));
      if (buf.length > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
      return buf;
    } catch (e) {
      problems.push(`${file}: ${key}: cannot read "${name}": ${(e as Error).message}`);
      return undefined;
    }
  };

  const entries = Array.isArray(site.interceptor.listen)
    ? site.interceptor.listen
    : [site.interceptor.listen];
  const listen = entries.map((entry, i): ListenSpec => {
    const key = Array.isArray(site.interceptor.listen) ? `interceptor.listen[${i}]` : 'interceptor.listen';
    const addr = typeof entry === 'string' ? entry : entry.address;
    const hp = parseHostPort(addr)!;
    if (typeof entry === 'string') return hp;
    const http2 = entry.http2 ? { http2: true } : {};
    if (!entry.tls) return { ...hp, ...http2 };
    const cert = read(entry.tls.cert, `${key}.tls.cert`);
    const keyPem = read(entry.tls.key, `${key}.tls.key`);
    return { ...hp, ...http2, tls: cert && keyPem ? { cert, key: keyPem } : undefined };
  });

  const sorryPages = new Map<string, Buffer>();
  site.applications.forEach((a, i) => {
    if (!a.sorryPage) return;
    const page = read(a.sorryPage, `applications[${i}].sorryPage`);
    if (page) sorryPages.set(a.name, page);
  });

  const addresses = new Map<string, ServerAddresses>();
  for (const s of site.servers) addresses.set(s.name, serverAddresses(s));
  site.applications.forEach((a, i) => {
    if (a.secure && !a.servers.some((n) => addresses.get(n)?.publicHttps))
      problems.push(`${file}: applications[${i}].secure: no server of "${a.name}" has an https address`);
  });

  if (problems.length > 0) throw new SwitchyardError('SY_ERR_CONFIG', problems.join('\n'));
  return { file, site, listen, admin: parseHostPort(site.interceptor.admin)!, sorryPages, addresses };
}

function serverAddresses(s: Site['servers'][number]): ServerAddresses {
  const trim = (u: string | undefined) => (u === undefined ? undefined : u.replace(/\/+$/, ''));
  const publicHttp = trim(s.public?.http ?? (s.url?.startsWith('http:') ? s.url : undefined));
  const publicHttps = trim(s.public?.https ?? (s.url?.startsWith('https:') ? s.url : undefined));
  const internal = trim(s.internal ?? s.url ?? publicHttp ?? publicHttps)!;
  return { publicHttp, publicHttps, internal };
}

/**
 * Parses YAML text and validates it with a schema. Any problem throws a SwitchyardError
 * (SY_ERR_CONFIG) naming the file, the line (bad YAML) or the key's path, one a line.
 * Shared by every file Switchyard reads: the site file, the lab's scenarios.
 *
 * @example
 * const site = parseYamlFile(siteSchema, text, 'site.yaml');
 */
export function parseYamlFile<T>(schema: z.ZodType<T>, text: string, file: string): T {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const where = ` (line ${lines.linePos(e.pos[0]).line})`;
    throw new SwitchyardError(
      'SY_ERR_CONFIG',
      `${file}${where}: not valid YAML: ${e.message.split('\n')[0]}`,
    );
  }
  const result = schema.safeParse(doc.toJS({ maxAliasCount: 100 }));
  if (!result.success) throw new SwitchyardError('SY_ERR_CONFIG', formatIssues(file, result.error.issues));
  return result.data;
}

/** "applications[0].servers[1]" from ["applications", 0, "servers", 1]. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(top level)';
}

function formatIssues(file: string, issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const where = formatPath(issue.path);
      if (issue.code === 'unrecognized_keys') {
        const keys = issue.keys.map((k) => `"${k}"`).join(', ');
        return `${file}: ${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}`;
      }
      if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
        return `${file}: ${where}: required (expected ${issue.expected})`;
      }
      return `${file}: ${where}: ${issue.message}`;
    })
    .join('\n');
}
