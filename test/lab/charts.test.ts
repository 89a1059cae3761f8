import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { intervalChart, labCharts, percentileChart, sharesChart } from '../../src/lab/charts.js';
import { loadScenario } from '../../src/lab/scenario.js';
import { addRequest, newRecords, OK, summarize } from '../../src/lab/summary.js';
import type { Cell } from '../../src/lab/table.js';

const s = loadScenario(join(import.meta.dirname, '../../bench/lab/scenarios/uneven.yaml'));

/** A cell of `n` routed requests with latencies 1..n ms spread over the run, each to server i % 4. */
function cell(label: string, n: number): Cell {
  const r = newRecords(
    s.duration,
    s.servers.map((x) => x.name),
  );
  for (let i = 0; i < n; i++) {
    const t0 = (i * s.duration) / n;
    addRequest(r, s.timeout, t0, t0 + i + 1, false, OK, i % 4);
    r.arrivals[Math.floor(t0 / 1000)]![i % 4]!++;
  }
  return { label, runs: [r], summary: summarize(r) };
}

const values = (spec: Record<string, unknown>) =>
  (spec.data as { values: Array<Record<string, unknown>> }).values;

test('the percentile curve goes only as far into the tail as the sample carries', () => {
  const small = cell('lc', 1000);
  const big = cell('switchyard', 100_000);
  const v = values(percentileChart(s, [big, small]).spec);
  const top = (c: string) => Math.max(...v.filter((x) => x.contender === c).map((x) => x.p as number));
  assert.equal(top('lc'), 99); // 1000 × (1 - 0.99) = 10 beyond it; p99.5 would leave 5
  assert.equal(top('switchyard'), 99.99);
  const p50 = v.find((x) => x.contender === 'lc' && x.p === 50);
  assert.equal(p50?.ms, 500); // nearest rank of 1..1000
});

test('shares over time add up to one in every window, per contender', () => {
  const v = values(sharesChart(s, [cell('lc', 4000)]).spec);
  const bySecond = new Map<number, number>();
  for (const x of v)
    bySecond.set(x.second as number, (bySecond.get(x.second as number) ?? 0) + (x.share as number));
  assert.equal(bySecond.size, Math.ceil(s.duration / 1000));
  for (const total of bySecond.values()) assert.ok(Math.abs(total - 1) < 1e-9);
});

test('the report-interval picture plots each variant over lc, and is left out without variants', () => {
  const lc = cell('lc', 1000);
  assert.equal(intervalChart(s, [cell('switchyard', 1000), lc]), undefined);
  const spec = intervalChart(s, [
    cell('switchyard', 1000),
    lc,
    cell('switchyard@1000ms', 1000),
    cell('switchyard@100ms', 1000),
  ])!.spec;
  const layers = spec.layer as Array<{ data: { values: Array<Record<string, number>> } }>;
  assert.deepEqual(
    layers[1]!.data.values.map((v) => [v.interval, v.ratio]),
    [
      [25, 1], // the default mode, at the shipped interval
      [100, 1],
      [1000, 1],
    ],
  );
});

test('every picture renders to SVG with vega, no browser', async () => {
  for (const chart of labCharts(s, [
    cell('switchyard', 3000),
    cell('lc', 3000),
    cell('switchyard@250ms', 3000),
  ])) {
    const view = new vega.View(vega.parse(compile(chart.spec as never).spec), { renderer: 'none' });
    const svg = await view.toSVG();
    view.finalize();
    assert.match(svg, /^<svg[^>]*>/, chart.name);
    assert.match(svg, /uneven/, chart.name);
    assert.match(svg, /switchyard/i, chart.name);
  }
});
