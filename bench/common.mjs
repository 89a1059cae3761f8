/**
 * What every benchmark shares and that has no side effects on import (wrk-common.mjs, which
 * re-exports these, also installs signal handlers for the processes it starts).
 */
import { spawnSync } from 'node:child_process';

/** A benchmark that cannot run: one line for the operator, exit status 1. */
export class BenchError extends Error {}

/** The kernel's clock ticks a second (/proc CPU times count in these). */
export function clockTicks() {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
  const n = Number(r.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
}
