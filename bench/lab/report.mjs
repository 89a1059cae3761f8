// Prints the lab's table for one scenario from the cells kept on disk, and flags runs whose
// load generator fell behind (its own event loop lagged, or arrivals left late).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { label } from '../../dist/lab/contenders.js';
import { pool, summarize } from '../../dist/lab/summary.js';
import { formatTable } from '../../dist/lab/table.js';

/** A run is flagged when more than 1 % of its arrivals left 10 ms late or later. */
const LATE_SHARE = 0.01;

export function readCells(dir, contenders) {
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  const cells = [];
  for (const c of contenders) {
    const name = label(c);
    const runs = files
      .filter((f) => f.startsWith(`${name}-r`) && /^-r\d+\.json$/.test(f.slice(name.length)))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
    if (runs.length === 0) continue;
    cells.push({
      label: name,
      runs,
      summary: summarize(pool(runs)),
      cpu: runs.reduce((s, r) => s + r.cpu, 0) / runs.length,
    });
  }
  return cells;
}

export function report(s, dir, contenders) {
  const cells = readCells(dir, contenders);
  if (cells.length === 0) return cells;
  const runs = Math.max(...cells.map((c) => c.runs.length));
  const builds = [...new Set(cells.flatMap((c) => c.runs.map((r) => r.commit ?? 'unrecorded')))];
  console.log(
    formatTable(
      s,
      cells,
      `${runs} run(s) of ${s.duration / 1000} s; build ${builds.join(' and ')}; CPU: the contender's own processes`,
    ),
  );
  if (builds.length > 1)
    console.log('  ! cells from more than one build: rerun before judging a goal on this table');
  for (const c of cells)
    c.runs.forEach((r, i) => {
      const late = r.sent > 0 ? r.late / r.sent : 0;
      if (late > LATE_SHARE)
        console.log(
          `  ! ${c.label} run ${i + 1}: the load generator fell behind (${(100 * late).toFixed(1)} % of arrivals late, event-loop lag p99 ${r.lag.p99.toFixed(1)} ms)`,
        );
      if (r.badRedirects > 0)
        console.log(`  ! ${c.label} run ${i + 1}: ${r.badRedirects} redirect(s) to an unknown place`);
    });
  return cells;
}
