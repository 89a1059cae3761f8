/**
 * Whether a request path may be moved to another server (document 000 claims 9-13,
 * document 003 fifth embodiment).
 *
 * Modes:
 * - `stateful`: the listed pages hold state and are never moved; all others may be.
 * - `movable`: only the listed pages may be moved; all others stay.
 * - `fixed`: the listed pages may not be moved; all others may be. (Same test as
 *   `stateful`; kept apart because the operator means something different by it.)
 *
 * Patterns are exact paths, or a prefix ending in `/*`: `/banking/*` matches everything
 * below `/banking/` but not `/banking/` itself, which is the entry point and may still be
 * moved, as in document 003.
 *
 * @example
 * const rules = compilePageRules({ mode: 'stateful', pages: ['/cart/*', '/checkout'] });
 * mayMove(rules, '/cart/42'); // false
 * mayMove(rules, '/cart/');   // true
 */

export type PageRuleMode = 'stateful' | 'movable' | 'fixed';

export interface PageRulesSpec {
  mode: PageRuleMode;
  pages: readonly string[];
}

export interface PageRules {
  mode: PageRuleMode;
  exact: ReadonlySet<string>;
  prefixes: readonly string[];
}

export function compilePageRules(spec: PageRulesSpec): PageRules {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const p of spec.pages) {
    if (p.endsWith('/*')) prefixes.push(p.slice(0, -1));
    else exact.add(p);
  }
  return { mode: spec.mode, exact, prefixes };
}

/** True when `path` (no query) matches one of the patterns. */
export function matchesPage(rules: PageRules, path: string): boolean {
  if (rules.exact.has(path)) return true;
  for (const prefix of rules.prefixes) {
    // Strictly below the prefix: "/banking/" itself does not match "/banking/*".
    if (path.length > prefix.length && path.startsWith(prefix)) return true;
  }
  return false;
}

/** Whether a request for `path` may be sent to another server. */
export function mayMove(rules: PageRules, path: string): boolean {
  const listed = matchesPage(rules, path);
  return rules.mode === 'movable' ? listed : !listed;
}

/** An application's page lists as the site file gives them (at most one is set). */
export interface ApplicationPages {
  servers: readonly string[];
  stateful?: readonly string[] | undefined;
  movable?: readonly string[] | undefined;
  fixed?: readonly string[] | undefined;
}

/**
 * The rules an interface applies for `server`, from the site file's applications: what the
 * manager sends it, so a server redirecting on its own keeps the pages `ctl explain` says it
 * keeps. A server in several applications cannot tell which one a request belongs to, so it
 * takes the cautious union: if any application lists movable pages, only those move;
 * otherwise every page listed stateful or fixed anywhere stays.
 *
 * @example
 * serverPageRules([{ servers: ['web-a'], stateful: ['/cart/*'] }], 'web-a');
 * // { mode: 'stateful', pages: ['/cart/*'] }
 */
export function serverPageRules(
  apps: readonly ApplicationPages[],
  server: string,
): { mode: PageRuleMode; pages: string[] } {
  const mine = apps.filter((a) => a.servers.includes(server));
  const movable = mine.filter((a) => a.movable !== undefined);
  if (movable.length > 0) return { mode: 'movable', pages: [...new Set(movable.flatMap((a) => a.movable!))] };
  return {
    mode: 'stateful',
    pages: [...new Set(mine.flatMap((a) => [...(a.stateful ?? []), ...(a.fixed ?? [])]))],
  };
}
