// Renders the lab's pictures (src/lab/charts.ts) to SVG with vega, no browser: one file per
// picture, `<scenario>-<picture>.svg` in the directory given.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { labCharts } from '../../dist/lab/charts.js';

/** Writes the scenario's SVGs into `dir`; returns their paths. */
export async function writeCharts(s, cells, dir) {
  mkdirSync(dir, { recursive: true });
  const files = [];
  for (const chart of labCharts(s, cells)) {
    const view = new vega.View(vega.parse(compile(chart.spec).spec), { renderer: 'none' });
    const svg = await view.toSVG();
    view.finalize();
    const file = join(dir, `${s.name}-${chart.name}.svg`);
    writeFileSync(file, svg);
    files.push(file);
  }
  return files;
}
