/**
 * The contenders of the balancing lab (issue 8), named the same in the simulator and the lab:
 *
 * - `switchyard`: redirect mode with the manager's dynamic load, as shipped by default;
 * - `switchyard-static`: redirect mode on static capacities (the document's interval choice);
 * - `lc`, `lc-w`: HAProxy leastconn without weights and with the true strengths as weights;
 * - `lc-q`: lc-w with a per-server maxconn equal to its slots, the rest in HAProxy's queue;
 * - `rr-w`: HAProxy weighted roundrobin;
 * - `redir`: HAProxy in redirect mode (`redir` on its server lines, weighted roundrobin);
 * - `nginx-lc`: NGINX least_conn with weights;
 * - `gateway`: Switchyard's gateway mode (issue 30): the interceptor proxying, with the
 *   manager's figures, its shipped default choice and admission queue (in the simulator: the
 *   real choice and site state, `GatewayDoor`).
 */

export const CONTENDERS = [
  'switchyard',
  'switchyard-static',
  'lc',
  'lc-w',
  'lc-q',
  'rr-w',
  'redir',
  'nginx-lc',
  'gateway',
] as const;
export type ContenderName = (typeof CONTENDERS)[number];

export interface ContenderSpec {
  name: ContenderName;
  /** Switchyard's dynamic mode: how often figures are reported and pushed, ms (absent: the default). */
  reportInterval?: number;
}

/** Report intervals the dynamic mode also runs at in `uneven` and `bypass`, ms. */
export const REPORT_INTERVAL_VARIANTS = [100, 250, 1000];

/** Scenarios where every contender runs, not only Switchyard's two modes, lc and lc-w. */
const ALL_CONTENDERS_IN = new Set(['uneven', 'bypass']);

export function label(c: ContenderSpec): string {
  return c.reportInterval !== undefined ? `${c.name}@${c.reportInterval}ms` : c.name;
}

/**
 * The contenders a scenario is run with, in the lab and the simulator alike (`quick`: only
 * Switchyard's default, lc and the gateway). The gateway runs in every scenario, and lc-q, the
 * best-configured proxy it is held against, in every one-door scenario (issue 30).
 */
export function contendersFor(scenario: string, quick = false, o: { doors?: number } = {}): ContenderSpec[] {
  const gateway: ContenderSpec[] = [{ name: 'gateway' }];
  if (quick) return [{ name: 'switchyard' }, { name: 'lc' }, ...gateway];
  const base: ContenderSpec[] = [
    { name: 'switchyard' },
    { name: 'switchyard-static' },
    { name: 'lc' },
    { name: 'lc-w' },
    ...gateway,
  ];
  if (!ALL_CONTENDERS_IN.has(scenario)) return o.doors === 1 ? [...base, { name: 'lc-q' }] : base;
  return [
    ...base,
    { name: 'lc-q' },
    { name: 'rr-w' },
    { name: 'redir' },
    { name: 'nginx-lc' },
    ...REPORT_INTERVAL_VARIANTS.map((ms) => ({ name: 'switchyard' as const, reportInterval: ms })),
  ];
}

/** Parses `name` or `name@250ms` / `name@250`; undefined when unknown. */
export function parseContender(text: string): ContenderSpec | undefined {
  const m = /^([a-z-]+)(?:@(\d+)(?:ms)?)?$/.exec(text.trim());
  if (!m || !(CONTENDERS as readonly string[]).includes(m[1]!)) return undefined;
  const name = m[1] as ContenderName;
  if (m[2] === undefined) return { name };
  if (name !== 'switchyard') return undefined;
  const ms = Number(m[2]);
  return ms >= 10 && ms <= 60_000 ? { name, reportInterval: ms } : undefined;
}
