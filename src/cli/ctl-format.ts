import type { ExplainView, StatusView } from '../interceptor/views.js';
import type { ManagerStatusView } from '../manager/manager.js';

/** Plain-text tables for ctl's human output; --json prints the API's JSON instead. */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (c ?? '').padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatStatus(s: StatusView): string {
  // Under the queue choice the share of the next pick is not a probability (the best server
  // takes it), so what each server recently got is shown, with its expected delay.
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const apps = table(
    ['APPLICATION', 'ENABLED', 'IN-FLIGHT', 'CHOICE', 'SERVERS', 'OVERRIDES'],
    s.applications.map((a) => [
      a.name,
      a.enabled ? 'yes' : 'no',
      `${a.inFlight}/${a.maxConcurrent}`,
      a.mode === 'proxy' ? `proxy: ${a.gateway?.choice ?? '-'}` : a.choice,
      a.mode === 'proxy'
        ? (a.gateway?.servers ?? []).map((x) => `${x.name} ${x.inFlight} in flight`).join('; ')
        : a.servers
            .map((x) =>
              a.choice === 'queue'
                ? `${x.name} ${pct(x.recent)} lately${x.delayMs === undefined ? '' : `, ${x.delayMs} ms expected`}`
                : `${x.name} ${pct(x.share)}`,
            )
            .join('; '),
      a.overrides.join(',') || '-',
    ]),
  );
  const why = s.applications
    .map((a) => {
      const g = a.gateway;
      if (a.mode !== 'proxy' || !g)
        return `${a.name}: ${a.choice} choice: ${a.choiceWhy}; client round trip ${a.roundTripMs} ms`;
      const q = g.queue;
      const servers = g.servers
        .map(
          (x) =>
            `${x.name} ${x.inFlight}${x.limit !== undefined ? ` of ${x.limit}` : ''} in flight, ${x.latencyMs} ms${x.ejected ? ', ejected' : ''}${x.ramp < 1 ? `, ramping (${Math.round(x.ramp * 100)}%)` : ''}`,
        )
        .join('; ');
      return `${a.name}: proxied, ${g.choice} choice; queue ${q.length} waiting (oldest ${q.oldestWaitMs} ms, mean wait ${q.meanWaitMs} ms, ${q.timedOut} timed out, ${q.refused} refused); ${servers}`;
    })
    .join('\n');
  const servers = table(
    [
      'SERVER',
      'ENABLED',
      'HEALTH',
      'CAPACITY',
      'LM',
      'L',
      'LEVEL',
      'QUEUE',
      'BUSY',
      'DELAY MS',
      'AGE MS',
      'URL',
      'OVERRIDES',
    ],
    s.servers.map((x) => {
      const m = x.manager;
      return [
        x.name,
        x.enabled ? 'yes' : 'no',
        x.health === 'down' ? `down: ${x.healthError ?? ''}` : x.health,
        x.capacity,
        x.LM,
        m ? Math.round(m.L) : '-',
        m ? (m.failed ? `${m.level} (failed)` : m.level) : '-',
        m?.queueLength ?? '-',
        m?.busy !== undefined ? `${m.busy}/${m.slots}` : '-',
        m?.queueDelay !== undefined ? Math.round(m.queueDelay) : '-',
        m ? m.ageMs : '-',
        x.url.https ?? x.url.http ?? x.url.internal,
        x.overrides.join(',') || '-',
      ];
    }),
  );
  // Which change stands for each override, and where it was made (D46).
  const standing = (s.overrides ?? []).map(
    (o) =>
      `${o.target} ${o.name}: ${o.field} ${o.value}${o.by ? ` (${o.by}${o.at ? `, ${o.at.slice(0, 10)} ${o.at.slice(11, 19)} UTC` : ''})` : ''}`,
  );
  return `${apps}\n${why}\n\n${servers}\n\noverrides: ${standing.length === 0 ? 'none' : `\n  ${standing.join('\n  ')}`}`;
}

export function formatExplain(e: ExplainView): string {
  const lines = [`${e.host || '(no host)'} ${e.url}${e.secure ? ' (secure)' : ''}`];
  if (!e.application) {
    lines.push(`application: none: ${e.why}`, `outcome: ${e.outcome}`);
    return lines.join('\n');
  }
  lines.push(`application: ${e.application}: ${e.why}`);
  lines.push(`page may move to another server: ${e.movable ? 'yes' : 'no (stateful)'}`);
  if (e.choice)
    lines.push(
      e.choice === 'queue'
        ? "choice: queue (shortest expected delay from the servers' own figures)"
        : 'choice: interval (weighted by each load metric: SHARE is the chance of the next pick)',
    );
  lines.push(
    table(
      [
        'SERVER',
        'ENABLED',
        'HEALTH',
        'CAPACITY',
        'LM',
        'EXPECTED MS',
        'RECENT',
        'REFERRALS',
        'FACTOR',
        'SHARE',
        'EXCLUDED',
      ],
      e.servers.map((s) => [
        s.name,
        s.enabled ? 'yes' : 'no',
        s.health,
        s.capacity,
        s.LM,
        s.delayMs ?? '-',
        `${(s.recent * 100).toFixed(1)}%`,
        s.referrals,
        s.factor,
        `${(s.share * 100).toFixed(1)}%`,
        s.excluded ?? '-',
      ]),
    ),
  );
  lines.push(`outcome: ${e.outcome}`);
  return lines.join('\n');
}

export function formatManager(m: ManagerStatusView): string {
  const servers = table(
    ['SERVER', 'L', 'AVERAGE', 'LEVEL', 'FAILED', 'QUEUE', 'BUSY', 'DELAY MS', 'AGE MS'],
    m.servers.map((x) => [
      x.server,
      Math.round(x.L),
      x.average === undefined ? '-' : Math.round(x.average),
      x.level,
      x.failed ? 'yes' : 'no',
      x.figures?.queueLength ?? '-',
      x.figures ? `${x.figures.busy}/${x.figures.slots}` : '-',
      x.figures ? Math.round(x.figures.queueDelay) : '-',
      Math.round(x.age),
    ]),
  );
  const agents = table(
    ['AGENT', 'CONNECTED', 'SERVERS'],
    m.agents.map((a) => [a.name, a.connected ? 'yes' : 'no', a.servers.join(', ')]),
  );
  // Each override with where it came from and when: the newest change stands (D46).
  const from = (o: { origins?: Record<string, { at: number; by: string }> }, field: string) => {
    const w = o.origins?.[field];
    return w ? ` (${w.by}, ${new Date(w.at).toISOString().slice(11, 19)} UTC)` : '';
  };
  const overrides = [
    ...Object.entries(m.overrides.applications).map(
      ([name, o]) =>
        `application ${name}: ${[o.enabled === undefined ? '' : `${o.enabled ? 'enabled' : 'disabled'}${from(o, 'enabled')}`, o.sorryPage ? `sorry page${from(o, 'sorryPage')}` : ''].filter(Boolean).join(', ')}`,
    ),
    ...Object.entries(m.overrides.servers).map(
      ([name, o]) =>
        `server ${name}: ${[o.enabled === undefined ? '' : `${o.enabled ? 'enabled' : 'disabled'}${from(o, 'enabled')}`, o.capacity === undefined ? '' : `capacity ${o.capacity}${from(o, 'capacity')}`].filter(Boolean).join(', ')}`,
    ),
  ].filter((line) => !line.endsWith(': '));
  return [
    `manager up ${Math.round(m.manager.uptimeMs / 1000)} s, store ${m.manager.store}`,
    `interceptors connected: ${m.interceptors.join(', ') || 'none'}`,
    ...(m.gateways ?? []).flatMap((g) =>
      g.applications.map(
        (a) =>
          `gateway ${g.interceptor}, ${a.name}: ${a.queueLength} waiting (oldest ${a.oldestWaitMs} ms, mean wait ${a.meanWaitMs} ms, ${a.timedOut} timed out, ${a.refused} refused; said ${Math.round(g.ageMs / 100) / 10} s ago)`,
      ),
    ),
    '',
    servers,
    '',
    agents,
    '',
    `overrides: ${overrides.length === 0 ? 'none' : `\n  ${overrides.join('\n  ')}`}`,
  ].join('\n');
}
