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
