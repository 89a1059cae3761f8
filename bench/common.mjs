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

/**
 * The environment that gives every process of a site its keys (D52), all one value: this
 * build reads one key per job, builds before D52 (run beside with --against or --dist) the one
 * site secret.
 */
export function siteKeys(key) {
  return {
    SWITCHYARD_MARK_KEY: key,
    SWITCHYARD_AGENT_KEY: key,
    SWITCHYARD_INTERCEPTOR_KEY: key,
    SWITCHYARD_SECRET: key,
  };
}
