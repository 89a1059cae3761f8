/**
 * Changes an operator made through the admin endpoint, or the manager's set of them. They sit
 * on top of the site file: a reload keeps them, `status` shows them and where each came from,
 * `ctl reset` drops them all.
 */
export interface Overrides {
  apps: Map<string, { enabled?: boolean; sorryPage?: Buffer }>;
  servers: Map<string, { enabled?: boolean; capacity?: number }>;
  /**
   * Who set each field and when (wall-clock ms), by `application NAME` or `server NAME`: the
   * newest change stands wherever it was made (D46), and `ctl status` says which one that is.
   */
  origins: Map<string, Record<string, OverrideSource>>;
}

export interface OverrideSource {
  at: number;
  by: string;
}

export function emptyOverrides(): Overrides {
  return { apps: new Map(), servers: new Map(), origins: new Map() };
}

export function clearOverrides(o: Overrides): void {
  o.apps.clear();
  o.servers.clear();
  o.origins.clear();
}

export function overrideApp(
  o: Overrides,
  name: string,
  change: { enabled?: boolean; sorryPage?: Buffer },
  source: OverrideSource,
): void {
  o.apps.set(name, { ...o.apps.get(name), ...change });
  noteSource(o, `application ${name}`, Object.keys(change), source);
}

export function overrideServer(
  o: Overrides,
  name: string,
  change: { enabled?: boolean; capacity?: number },
  source: OverrideSource,
): void {
  o.servers.set(name, { ...o.servers.get(name), ...change });
  noteSource(o, `server ${name}`, Object.keys(change), source);
}

function noteSource(o: Overrides, key: string, fields: string[], source: OverrideSource): void {
  const was = o.origins.get(key) ?? {};
  o.origins.set(key, { ...was, ...Object.fromEntries(fields.map((f) => [f, source])) });
}
