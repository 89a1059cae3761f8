import type { ExplainView, StatusView } from '../interceptor/views.js';

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
  const apps = table(
    ['APPLICATION', 'ENABLED', 'IN-FLIGHT', 'SERVERS (SHARE)', 'OVERRIDES'],
    s.applications.map((a) => [
      a.name,
      a.enabled ? 'yes' : 'no',
      `${a.inFlight}/${a.maxConcurrent}`,
      a.servers.map((x) => `${x.name} ${(x.share * 100).toFixed(0)}%`).join(', '),
      a.overrides.join(',') || '-',
    ]),
  );
  const servers = table(
    ['SERVER', 'ENABLED', 'HEALTH', 'CAPACITY', 'LM', 'REFERRALS', 'URL', 'OVERRIDES'],
    s.servers.map((x) => [
      x.name,
      x.enabled ? 'yes' : 'no',
      x.health === 'down' ? `down: ${x.healthError ?? ''}` : x.health,
      x.capacity,
      x.LM,
      x.referrals,
      x.url.https ?? x.url.http ?? x.url.internal,
      x.overrides.join(',') || '-',
    ]),
  );
  return `${apps}\n\n${servers}`;
}

export function formatExplain(e: ExplainView): string {
  const lines = [`${e.host || '(no host)'} ${e.url}${e.secure ? ' (secure)' : ''}`];
  if (!e.application) {
    lines.push(`application: none: ${e.why}`, `outcome: ${e.outcome}`);
    return lines.join('\n');
  }
  lines.push(`application: ${e.application}: ${e.why}`);
  lines.push(`page may move to another server: ${e.movable ? 'yes' : 'no (stateful)'}`);
  lines.push(
    table(
      ['SERVER', 'ENABLED', 'HEALTH', 'CAPACITY', 'LM', 'REFERRALS', 'FACTOR', 'SHARE', 'EXCLUDED'],
      e.servers.map((s) => [
        s.name,
        s.enabled ? 'yes' : 'no',
        s.health,
        s.capacity,
        s.LM,
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
