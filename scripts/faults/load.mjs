// The requests of the fault suite, sent straight to the demo servers (not through the
// interceptor: its redirects are not what is counted). Every loop is bounded in count and in
// time and ends by itself; no request waits longer than its time-out.
import { request } from 'node:http';
import { sleep } from './site.mjs';

/** 200 answers each server gave the suite, any request: what its demo server says it served. */
export const served200 = new Map();

/**
 * One GET that does not follow redirects, on a connection of its own. Resolves to
 * `{ status, location, body }` (the body's start), or `{ error }` when nothing came back in
 * time; never rejects.
 */
export function get(url, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        if (body.length < 200) body += c;
      });
      res.on('end', () => {
        if (res.statusCode === 200) {
          const origin = new URL(url).origin;
          served200.set(origin, (served200.get(origin) ?? 0) + 1);
        }
        resolve({ status: res.statusCode, location: res.headers.location, body });
      });
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ error: e.message }));
    req.end();
  });
}

/**
 * The counted load: `count` GETs, request i at i/rate seconds (open loop, so a slow answer
 * does not slow the load), alternating between `targets`, each carrying its own id `?i=N`.
 * `answers[i]` is what request i got.
 */
export async function countedLoad({ targets, count, rate }) {
  const t0 = performance.now();
  const answers = new Array(count);
  const inFlight = [];
  for (let i = 0; i < count; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    inFlight.push(
      get(`${targets[i % targets.length]}/shop/item?i=${i}`).then((a) => {
        answers[i] = a;
      }),
    );
  }
  await Promise.all(inFlight);
  return answers;
}

/** Whether an answer of a demo server is its interface sending the browser to `door` (the interceptor). */
export const redirectsTo = (a, door) =>
  (a.status === 302 || a.status === 307) && typeof a.location === 'string' && a.location.startsWith(door);

/**
 * `clients` closed-loop clients GET `url/shop/push?o=N` until an answer satisfies `until` or
 * `ms` pass; says whether one did. Used to load one server past its maximum level. Ids are
 * `o=`, never `i=`, so they are not counted as the load's.
 */
export async function pushOver({ url, clients, ms, until }) {
  const end = Date.now() + ms;
  let reached = false;
  let n = 0;
  const client = async () => {
    while (!reached && Date.now() < end)
      if (until(await get(`${url}/shop/push?o=${n++}`, 3000))) reached = true;
  };
  await Promise.all(Array.from({ length: clients }, client));
  return reached;
}
