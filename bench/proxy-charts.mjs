// The pictures of bench/proxy.mjs, rendered to SVG as the lab's are (bench/lab/charts.mjs):
// each proxy's rounds as dots and their median as a tick, so the spread is in the picture.
//   proxy-throughput.svg  closed-loop requests/s
//   proxy-cpu.svg         CPU µs a request, closed loop and each fixed rate (log scale)
//   proxy-p99.svg         p99 latency µs, closed loop and each fixed rate (log scale)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSvg } from './lab/charts.mjs';

/** The same colour for a proxy in every picture; the gateway in the lab's gateway orange. */
const COLOUR = {
  gateway: '#ff7f0e',
  against: '#ffbb78',
  undici: '#1f77b4',
  'http-proxy': '#8c564b',
  haproxy: '#2ca02c',
  nginx: '#7f7f7f',
};

/**
 * Writes the pictures into `dir`; returns their paths. `results` is bench/proxy.mjs's
 * summary.results (proxy key → load name → summary with its runs), `labels` its names.
 */
export async function writeProxyCharts(results, labels, machine, dir) {
  mkdirSync(dir, { recursive: true });
  const keys = Object.keys(results);
  const order = keys.map((k) => labels[k] ?? k);
  const loads = Object.keys(results[keys[0]] ?? {});
  const loadName = (l) => (l === 'closed' ? 'closed loop' : `at ${l}`);
  const values = (loadsOf, read) =>
    keys.flatMap((k) =>
      loadsOf.flatMap((l) =>
        (results[k][l]?.runs ?? []).map((r, i) => ({
          proxy: labels[k] ?? k,
          load: loadName(l),
          round: i + 1,
          value: read(r),
        })),
      ),
    );
  const colour = {
    field: 'proxy',
    type: 'nominal',
    scale: { domain: order, range: keys.map((k) => COLOUR[k] ?? '#17becf') },
    legend: null,
  };
  const chart = (name, title, yTitle, data, log) => ({
    name,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: title, subtitle: `${machine}; dots: rounds, ticks: medians`, anchor: 'start' },
      background: 'white',
      config: { font: 'sans-serif', view: { stroke: '#ddd' } },
      data: { values: data.filter((d) => Number.isFinite(d.value) && (!log || d.value > 0)) },
      facet: {
        column: { field: 'load', type: 'nominal', sort: [...new Set(data.map((d) => d.load))], title: null },
      },
      spec: {
        width: 40 + 28 * keys.length,
        height: 260,
        encoding: {
          x: { field: 'proxy', type: 'nominal', sort: order, title: null, axis: { labelAngle: -40 } },
          color: colour,
        },
        layer: [
          {
            mark: { type: 'point', filled: true, opacity: 0.6, size: 40 },
            encoding: {
              y: {
                field: 'value',
                type: 'quantitative',
                title: yTitle,
                ...(log ? { scale: { type: 'log' } } : { scale: { zero: true } }),
              },
            },
          },
          {
            mark: { type: 'tick', thickness: 2, size: 20 },
            encoding: { y: { aggregate: 'median', field: 'value', type: 'quantitative' } },
          },
        ],
      },
    },
  });
  const charts = [
    chart(
      'throughput',
      'bench:proxy, closed loop: requests a second',
      'requests/s',
      values(['closed'], (r) => r.rps),
      false,
    ),
    chart(
      'cpu',
      'bench:proxy: CPU a request',
      'CPU µs a request',
      values(loads, (r) => r.cpuUsPerRequest),
      true,
    ),
    chart(
      'p99',
      'bench:proxy: p99 latency',
      'p99 µs',
      values(loads, (r) => r.p99us),
      true,
    ),
  ];
  const files = [];
  for (const c of charts) {
    const file = join(dir, `proxy-${c.name}.svg`);
    writeFileSync(file, await renderSvg(c.spec));
    files.push(file);
  }
  return files;
}
