// Where a process's CPU time went, from a V8 CPU profile (node --cpu-prof): the functions
// with the most self time, the project's own functions with the most time including what
// they call, and the time by area (Switchyard's dist/, undici, Node's internals by module,
// garbage collection). bench/proxy.mjs --cpu-prof DIR uses it on the gateway under load.
//
// Usage: node bench/proxy-profile.mjs FILE.cpuprofile [--top N]
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const SPECIAL = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);

/** A short place for a frame: the file under dist/ or node_modules/, or Node's module. */
function place(url) {
  if (!url) return '';
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + '/node_modules/'.length);
  const dist = path.lastIndexOf('/dist/');
  if (dist >= 0) return path.slice(dist + 1);
  return basename(path);
}

/** The area a frame belongs to. */
function area(frame) {
  const { functionName: fn, url } = frame;
  if (SPECIAL.has(fn) && !url) return fn;
  if (!url) return '(native)';
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:');
  if (url.includes('/node_modules/undici/')) return 'undici';
  if (url.includes('/node_modules/')) return `npm:${place(url).split('/')[0]}`;
  if (ours(url)) return 'switchyard (dist/)';
  return place(url);
}

/** A file of the project's build (not a dependency's dist/). */
function ours(url) {
  return url.includes('/dist/') && !url.includes('/node_modules/');
}

function key(frame) {
  const fn = frame.functionName || '(anonymous)';
  const p = place(frame.url);
  return p ? `${fn} ${p}:${frame.lineNumber + 1}` : fn;
}

/**
 * The profile's time, ms: busy (every sample but idle), and the top entries of self time,
 * of time including callees for the project's own functions, and of self time by area.
 * `window` ({ fromUs, toUs }, the monotonic clock in µs, as process.hrtime.bigint() / 1000n
 * gives it and V8 stamps its samples) keeps only the samples taken within it.
 */
export function summariseProfile(profile, top = 15, window = undefined) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  const incl = new Map();
  const areas = new Map();
  let idle = 0;
  let busy = 0;
  const { samples, timeDeltas } = profile;
  let at = profile.startTime;
  let kept = 0;
  for (let i = 0; i < samples.length; i++) {
    at += timeDeltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    kept++;
    // A sample stands for the time until the next one.
    const ms = (timeDeltas[i + 1] ?? timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(samples[i]);
    if (!node) continue;
    if (node.callFrame.functionName === '(idle)') {
      idle += ms;
      continue;
    }
    busy += ms;
    const k = key(node.callFrame);
    self.set(k, (self.get(k) ?? 0) + ms);
    const a = area(node.callFrame);
    areas.set(a, (areas.get(a) ?? 0) + ms);
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id).callFrame;
      if (!ours(f.url)) continue;
      const kk = key(f);
      if (seen.has(kk)) continue;
      seen.add(kk);
      incl.set(kk, (incl.get(kk) ?? 0) + ms);
    }
  }
  const sorted = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms, share: busy > 0 ? ms / busy : 0 }));
  return {
    samples: kept,
    busyMs: busy,
    idleMs: idle,
    self: sorted(self),
    inclusive: sorted(incl),
    areas: sorted(areas),
  };
}

/** The summary as lines of text. */
export function formatProfile(s) {
  const rows = (list) => list.map((e) => `  ${(e.share * 100).toFixed(1).padStart(5)}%  ${e.name}`);
  return [
    `${s.samples} samples: busy ${(s.busyMs / 1000).toFixed(2)} s, idle ${(s.idleMs / 1000).toFixed(2)} s; shares are of the busy time`,
    'self time by area:',
    ...rows(s.areas),
    'self time by function:',
    ...rows(s.self),
    "Switchyard's functions, with what they call:",
    ...rows(s.inclusive),
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/proxy-profile.mjs FILE.cpuprofile [--top N]');
    process.exit(2);
  }
  const at = process.argv.indexOf('--top');
  const top = at > 0 ? Number(process.argv[at + 1]) : 15;
  console.log(formatProfile(summariseProfile(JSON.parse(readFileSync(file, 'utf8')), top)));
}
