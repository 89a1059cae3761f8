import type { QueueFigures } from './load-value.js';

/**
 * One server's figures from several processes of it (Node cluster, PM2 workers): each keeps
 * its own queue and slots, and the server is their sum. Counts add; the mean queue delay and
 * service time are weighted by the requests each process finished (equally when none did).
 *
 * @example
 * combineFigures([
 *   { queueLength: 2, busy: 4, slots: 4, queueDelay: 10, serviceTime: 20, requests: 30, errors: 0 },
 *   { queueLength: 0, busy: 1, slots: 4, queueDelay: 0, serviceTime: 10, requests: 10, errors: 1 },
 * ]); // { queueLength: 2, busy: 5, slots: 8, queueDelay: 7.5, serviceTime: 17.5, requests: 40, errors: 1 }
 */
export function combineFigures(list: readonly QueueFigures[]): QueueFigures {
  if (list.length === 1) return list[0]!;
  const requests = list.reduce((n, f) => n + f.requests, 0);
  const weight = (f: QueueFigures) => (requests > 0 ? f.requests / requests : 1 / list.length);
  const sum = (k: 'queueLength' | 'busy' | 'slots' | 'errors') => list.reduce((n, f) => n + f[k], 0);
  return {
    queueLength: sum('queueLength'),
    busy: sum('busy'),
    slots: sum('slots'),
    queueDelay: list.reduce((x, f) => x + weight(f) * f.queueDelay, 0),
    serviceTime: list.reduce((x, f) => x + weight(f) * f.serviceTime, 0),
    requests,
    errors: sum('errors'),
  };
}
