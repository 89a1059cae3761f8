/**
 * Changes an operator made through the admin endpoint. They sit on top of the site file:
 * a reload keeps them, `status` shows them, `ctl reset` drops them all.
 */
export interface Overrides {
  apps: Map<string, { enabled?: boolean; sorryPage?: Buffer }>;
  servers: Map<string, { enabled?: boolean; capacity?: number }>;
}

export function emptyOverrides(): Overrides {
  return { apps: new Map(), servers: new Map() };
}

export function overrideApp(
  o: Overrides,
  name: string,
  change: { enabled?: boolean; sorryPage?: Buffer },
): void {
  o.apps.set(name, { ...o.apps.get(name), ...change });
}

export function overrideServer(
  o: Overrides,
  name: string,
  change: { enabled?: boolean; capacity?: number },
): void {
  o.servers.set(name, { ...o.servers.get(name), ...change });
}
