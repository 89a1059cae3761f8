/**
 * Finds the application for a request by Host and path prefix (FIG. 2, before step 150).
 *
 * The longest matching prefix wins; at equal length an application that names the host
 * wins over one that takes any host. A prefix matches on segment boundaries: "/shop"
 * matches "/shop" and "/shop/cart" but not "/shopping"; a prefix ending in "/" matches
 * everything that starts with it.
 *
 * @example
 * const m = new Matcher([{ hosts: [], pathPrefix: '/', value: 'shop' }]);
 * m.match('example.com', '/x'); // 'shop'
 */

export interface MatchRule<T> {
  /** Lower-case host names, "*.example.com" for a suffix; empty for any host. */
  hosts: readonly string[];
  pathPrefix: string;
  value: T;
}

interface Compiled<T> {
  exact: Set<string>;
  suffixes: string[];
  anyHost: boolean;
  prefix: string;
  value: T;
}

export class Matcher<T> {
  private readonly rules: Compiled<T>[];

  constructor(rules: readonly MatchRule<T>[]) {
    this.rules = rules
      .map((r) => ({
        exact: new Set(r.hosts.filter((h) => !h.startsWith('*.'))),
        suffixes: r.hosts.filter((h) => h.startsWith('*.')).map((h) => h.slice(1)),
        anyHost: r.hosts.length === 0,
        prefix: r.pathPrefix,
        value: r.value,
      }))
      // Longest prefix first; at equal length, host-specific rules first.
      .sort((a, b) => b.prefix.length - a.prefix.length || Number(a.anyHost) - Number(b.anyHost));
  }

  /** `host` is lower-case without port; `path` has no query. */
  match(host: string, path: string): T | undefined {
    for (const r of this.rules) {
      if (!prefixMatches(r.prefix, path)) continue;
      if (
        r.anyHost ||
        r.exact.has(host) ||
        r.suffixes.some((s) => host.endsWith(s) && host.length > s.length)
      ) {
        return r.value;
      }
    }
    return undefined;
  }
}

function prefixMatches(prefix: string, path: string): boolean {
  if (!path.startsWith(prefix)) return false;
  if (prefix.endsWith('/') || path.length === prefix.length) return true;
  return path.charCodeAt(prefix.length) === 47; // '/'
}

export { hostOf } from '../protocol/request-target.js';
