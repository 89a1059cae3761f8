// Renders the lab's pictures (src/lab/charts.ts) to SVG with vega, no browser: one file per
// picture, `<scenario>-<picture>.svg` in the directory given.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { labCharts } from '../../dist/lab/charts.js';

/** One vega-lite spec as an SVG document (every bench picture goes through here). */
export async function renderSvg(spec) {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes the scenario's SVGs into `dir`; returns their paths. */
export async function writeCharts(s, cells, dir) {
  mkdirSync(dir, { recursive: true });
  const files = [];
  for (const chart of labCharts(s, cells)) {
    const file = join(dir, `${s.name}-${chart.name}.svg`);
    writeFileSync(file, await renderSvg(chart.spec));
    files.push(file);
  }
  return files;
}
