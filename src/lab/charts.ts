import { parseDuration } from '../config/duration.js';
import { MONITORING_DEFAULTS } from '../config/monitoring-schema.js';
import { parseContender } from './contenders.js';
import type { Scenario } from './scenario.js';
import { percentile, routedLatencies } from './summary.js';
import type { Cell } from './table.js';

/**
 * The lab's pictures as vega-lite specs, one scenario at a time: routed latency by
 * percentile on log axes, p99 over time, and each server's share over time. Pure data in,
 * spec out; rendering them (vega, no browser) is the lab script's business, so vega stays a
 * dev dependency and nothing here needs it.
 */

/** A vega-lite spec, as plain data. */
export type ChartSpec = Record<string, unknown>;

export interface LabChart {
  /** File name ending: `<scenario>-<name>.svg`. */
  name: string;
  spec: ChartSpec;
}

/** Percentiles drawn on the latency curve, as far as the sample carries them. */
const CURVE = [0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999];
/** A percentile is drawn only where at least this many requests lie beyond it. */
const TAIL_SAMPLES = 10;
const WIDTH = 520;
const HEIGHT = 300;
/** One colour per contender in every picture, Switchyard's default in red. */
const COLOUR: Record<string, string> = {
  switchyard: '#d62728',
  'switchyard-static': '#ff9896',
  lc: '#1f77b4',
  'lc-w': '#2ca02c',
  'lc-q': '#9467bd',
  'rr-w': '#8c564b',
  redir: '#e377c2',
  'nginx-lc': '#7f7f7f',
  gateway: '#ff7f0e',
};
const SPARE = ['#bcbd22', '#17becf', '#aec7e8', '#98df8a', '#c5b0d5', '#000000'];
/** Latency in ms on a log axis, the y of both latency pictures. */
const LATENCY_AXIS = { field: 'ms', type: 'quantitative', title: 'latency (ms)', scale: { type: 'log' } };
/** Colour by contender, in the order the table lists them. */
const byContender = (cells: readonly Cell[]) => ({
  field: 'contender',
  type: 'nominal',
  scale: colours(cells),
  sort: cells.map((c) => c.label),
});
const colours = (cells: readonly Cell[]) => {
  let spare = 0;
  const domain = cells.map((c) => c.label);
  return { domain, range: domain.map((l) => COLOUR[l] ?? SPARE[spare++ % SPARE.length]!) };
};

const base = (s: Scenario, title: string) => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: { text: `${s.name}: ${title}`, anchor: 'start' },
  background: 'white',
  config: { font: 'sans-serif', view: { stroke: '#ddd' } },
});

/**
 * Routed latency against percentile, x as 1 / (1 - p) on a log axis so every added nine gets
 * the same room (the usual way to show a tail), y in ms on a log axis.
 */
export function percentileChart(s: Scenario, cells: readonly Cell[]): LabChart {
  const values: Array<{ contender: string; x: number; p: number; ms: number }> = [];
  for (const c of cells) {
    const sorted = routedLatencies(c.runs);
    for (const p of CURVE) {
      if (sorted.length === 0 || Math.round((1 - p) * sorted.length * 1e6) < TAIL_SAMPLES * 1e6) continue;
      values.push({
        contender: c.label,
        x: 1 / (1 - p),
        p: Number((100 * p).toFixed(2)),
        ms: Math.max(0.1, percentile(sorted, p)),
      });
    }
  }
  const right = Math.max(2, ...values.map((v) => v.x));
  const ticks = [2, 10, 100, 1000, 10_000].filter((t) => t <= right);
  return {
    name: 'percentiles',
    spec: {
      ...base(s, 'routed latency by percentile (all runs pooled)'),
      width: WIDTH,
      height: HEIGHT,
      data: { values },
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'x',
          type: 'quantitative',
          title: 'percentile',
          scale: { type: 'log', domain: [2, right] },
          axis: { values: ticks, labelExpr: "'p' + format(100 - 100 / datum.value, '~r')" },
        },
        y: LATENCY_AXIS,
        color: byContender(cells),
        tooltip: [
          { field: 'contender' },
          { field: 'p', title: 'percentile' },
          { field: 'ms', format: '.1f' },
        ],
      },
    },
  };
}

const WINDOW_STATS = [
  ['p99', 0.99],
  ['p50', 0.5],
] as const;

/** p50 and p99 of routed latency in each one-second window, runs pooled, by when requests were due. */
export function latencyOverTimeChart(s: Scenario, cells: readonly Cell[]): LabChart {
  const windows = Math.ceil(s.duration / 1000);
  const values: Array<{ contender: string; second: number; stat: string; ms: number }> = [];
  for (const c of cells) {
    const byWindow: number[][] = Array.from({ length: windows }, () => []);
    for (const r of c.runs)
      for (let i = 0; i < r.latency.length; i++)
        if (r.bypass[i] === 0)
          byWindow[Math.min(windows - 1, Math.floor(r.t0[i]! / 1000))]!.push(r.latency[i]!);
    byWindow.forEach((v, w) => {
      if (v.length === 0) return;
      const sorted = Float64Array.from(v).sort();
      for (const [stat, p] of WINDOW_STATS)
        values.push({ contender: c.label, second: w + 0.5, stat, ms: Math.max(0.1, percentile(sorted, p)) });
    });
  }
  return {
    name: 'over-time',
    spec: {
      ...base(s, 'routed latency over time, p99 (solid) and p50 (dashed), one-second windows'),
      width: WIDTH,
      height: HEIGHT,
      data: { values },
      mark: { type: 'line', strokeWidth: 1.5 },
      encoding: {
        x: { field: 'second', type: 'quantitative', title: 'seconds into the measured run' },
        y: LATENCY_AXIS,
        color: byContender(cells),
        strokeDash: {
          field: 'stat',
          type: 'nominal',
          scale: {
            domain: ['p99', 'p50'],
            range: [
              [1, 0],
              [4, 3],
            ],
          },
          legend: null,
        },
        detail: { field: 'stat' },
      },
    },
  };
}

/** Each server's share of routed arrivals in each one-second window, one small chart per contender. */
export function sharesChart(s: Scenario, cells: readonly Cell[]): LabChart {
  const values: Array<{ contender: string; second: number; server: string; share: number }> = [];
  for (const c of cells) {
    const windows = Math.max(...c.runs.map((r) => r.arrivals.length));
    for (let w = 0; w < windows; w++) {
      const sums = s.servers.map((_, k) => c.runs.reduce((a, r) => a + (r.arrivals[w]?.[k] ?? 0), 0));
      const total = sums.reduce((a, b) => a + b, 0);
      if (total === 0) continue;
      for (let k = 0; k < sums.length; k++)
        values.push({ contender: c.label, second: w, server: serverLabel(s, k), share: sums[k]! / total });
    }
  }
  return {
    name: 'shares',
    spec: {
      ...base(s, "each server's share of routed requests over time (strength in brackets)"),
      data: { values },
      facet: { field: 'contender', type: 'nominal', title: null, sort: cells.map((c) => c.label) },
      columns: 3,
      spec: {
        width: 220,
        height: 110,
        mark: { type: 'area', interpolate: 'step-after' },
        encoding: {
          x: { field: 'second', type: 'quantitative', title: 'seconds' },
          y: { field: 'share', type: 'quantitative', stack: 'zero', title: 'share', axis: { format: '%' } },
          color: { field: 'server', type: 'nominal', sort: s.servers.map((_, k) => serverLabel(s, k)) },
          order: { field: 'server' },
        },
      },
    },
  };
}

/**
 * p99 of routed traffic over lc's against the report interval, for the dynamic mode's
 * interval variants (`switchyard@250ms`), with lc-w and lc-q as level lines: how fresh the
 * figures must be to win. Undefined when the cells hold no variants or no lc.
 */
export function intervalChart(s: Scenario, cells: readonly Cell[]): LabChart | undefined {
  const lc = cells.find((c) => c.label === 'lc');
  if (!lc) return undefined;
  const p99 = (c: Cell) => percentile(routedLatencies(c.runs), 0.99);
  const ref = p99(lc);
  const shipped = parseDuration(MONITORING_DEFAULTS.reportInterval)!;
  const variants = cells.flatMap((c) => {
    const spec = parseContender(c.label);
    return spec?.name === 'switchyard' && spec.reportInterval !== undefined
      ? [{ interval: spec.reportInterval, ratio: p99(c) / ref }]
      : [];
  });
  if (variants.length === 0) return undefined;
  // The default mode is the shipped interval's point, unless a variant runs at it too.
  const dflt = cells.find((c) => c.label === 'switchyard');
  const points = [
    ...(dflt && !variants.some((v) => v.interval === shipped)
      ? [{ interval: shipped, ratio: p99(dflt) / ref }]
      : []),
    ...variants,
  ].sort((x, y) => x.interval - y.interval);
  const levels = ['lc', 'lc-w', 'lc-q'].flatMap((l) => {
    const c = cells.find((x) => x.label === l);
    return c ? [{ contender: l, ratio: p99(c) / ref }] : [];
  });
  const x = {
    field: 'interval',
    type: 'quantitative',
    title: 'report interval (ms)',
    scale: {
      type: 'log',
      domain: [
        Math.min(...points.map((p) => p.interval)) / 1.5,
        Math.max(...points.map((p) => p.interval)) * 1.5,
      ],
    },
    axis: { values: points.map((p) => p.interval) },
  };
  return {
    name: 'report-interval',
    spec: {
      ...base(s, "Switchyard's p99 over lc's against the report interval (routed traffic)"),
      width: 360,
      height: 240,
      layer: [
        {
          data: { values: levels },
          mark: { type: 'rule', strokeDash: [4, 3] },
          encoding: {
            y: { field: 'ratio', type: 'quantitative' },
            color: {
              field: 'contender',
              type: 'nominal',
              scale: {
                domain: levels.map((l) => l.contender),
                range: levels.map((l) => COLOUR[l.contender]!),
              },
              title: 'level of',
            },
          },
        },
        {
          data: { values: points },
          mark: { type: 'line', point: true, color: COLOUR.switchyard },
          encoding: {
            x,
            y: { field: 'ratio', type: 'quantitative', title: 'p99 / p99 of lc', scale: { zero: true } },
          },
        },
      ],
    },
  };
}

const serverLabel = (s: Scenario, k: number) => `${s.servers[k]!.name} (${s.servers[k]!.strength})`;

/** All of a scenario's pictures. */
export function labCharts(s: Scenario, cells: readonly Cell[]): LabChart[] {
  const charts = [percentileChart(s, cells), latencyOverTimeChart(s, cells), sharesChart(s, cells)];
  const interval = intervalChart(s, cells);
  return interval ? [...charts, interval] : charts;
}
