import { stringify } from 'yaml';
import { type LoadedSite, parseSite } from '../config/load.js';
import type { Scenario } from './scenario.js';

/**
 * The site file Switchyard runs with in the lab and in the simulator, built from a scenario:
 * one application over the scenario's servers, and (for the dynamic mode) a manager with
 * one agent for them all, as on the lab's one host. Both use this one builder, so the
 * simulator decides with exactly the configuration the lab runs.
 *
 * - `static`: the document's interval choice on static capacities, given the servers' true
 *   strengths (scaled into 1..10): no manager.
 * - `dynamic`: every server at the default capacity (the mode learns strengths from the
 *   servers' figures), fed by the manager every `reportInterval`.
 *
 * @example
 * const site = labSite(scenario, { mode: 'dynamic', reportInterval: 250, urls: ['http://127.0.0.1:9001', ...] });
 */

export type SwitchyardMode = 'static' | 'dynamic';

export interface LabSiteOptions {
  mode: SwitchyardMode;
  /** ms; the dynamic mode only. Absent: the shipped default. */
  reportInterval?: number;
  /** Each server's base URL, in the scenario's order. */
  urls: readonly string[];
  /** The interceptor's listen address and admin address. */
  listen?: string;
  admin?: string;
  /** The manager's listen address. */
  manager?: string;
  /** The agent's local socket (the simulator never opens it). */
  socket?: string;
  /**
   * The manager tells overloaded servers to redirect users away (default). Off for the
   * other contenders: the servers report as always, but nothing is sent to Switchyard.
   */
  redirects?: boolean;
  /** Where overloaded servers send users (default: the interceptor). */
  redirectTarget?: string;
  /** The application in proxy mode (the gateway contender): its shipped defaults, or these settings. */
  proxy?: boolean | Record<string, unknown>;
}

/** Static capacities 1..10 in proportion to the strengths, the strongest at most 10. */
export function capacities(s: Scenario): number[] {
  const max = Math.max(...s.servers.map((x) => x.strength));
  const scale = max > 10 ? 10 / max : 1;
  return s.servers.map((x) => Math.min(10, Math.max(1, x.strength * scale)));
}

export function labSiteText(s: Scenario, o: LabSiteOptions): string {
  const caps = capacities(s);
  const dynamic = o.mode === 'dynamic';
  const site = {
    interceptor: {
      listen: o.listen ?? '127.0.0.1:0',
      admin: o.admin ?? '127.0.0.1:0',
      // The lab's servers are watched by the lab; checks would add traffic of their own.
      healthCheck: { enabled: false },
    },
    ...(dynamic
      ? {
          manager: {
            listen: o.manager ?? '127.0.0.1:0',
            ...(o.reportInterval !== undefined ? { reportInterval: `${o.reportInterval}ms` } : {}),
            ...(o.redirects === false ? { thresholds: [] } : {}),
            ...(o.redirectTarget ? { redirectTarget: o.redirectTarget } : {}),
          },
          agents: [
            {
              name: 'lab',
              socket: o.socket ?? './lab-agent.sock',
              servers: s.servers.map((x) => x.name),
            },
          ],
        }
      : {}),
    servers: s.servers.map((x, i) => ({
      name: x.name,
      url: o.urls[i],
      ...(dynamic ? {} : { capacity: caps[i] }),
    })),
    applications: [
      {
        name: 'lab',
        match: { pathPrefix: '/' },
        servers: s.servers.map((x) => x.name),
        ...(o.proxy ? { mode: 'proxy' } : {}),
        ...(typeof o.proxy === 'object' ? { proxy: o.proxy } : {}),
      },
    ],
  };
  return stringify(site);
}

export function labSite(s: Scenario, o: LabSiteOptions, dir = '.'): LoadedSite {
  return parseSite(labSiteText(s, o), `lab site for ${s.name}`, dir);
}
