import type { HostFacts, RequestRecord } from '../../src/protocol/messages.js';

/** What the store tests feed the store: one shape for the store itself and its worker client. */

/** A request record of web-a for `path`, with any optional fields given. */
export const record = (path: string, extra: Partial<RequestRecord> = {}): RequestRecord => ({
  server: 'web-a',
  start: 1_800_000_000_000,
  method: 'GET',
  path,
  status: 200,
  queueWait: 1.5,
  serviceTime: 20,
  ...extra,
});

/** A batch of `n` records (paths /0, /1, ...), one event and one sample. */
export const batch = (n: number, extra: Partial<RequestRecord> = {}) => ({
  records: Array.from({ length: n }, (_, i) => record(`/${i}`, extra)),
  events: [{ source: 'web-a', code: 'server.up', text: 'up', age: 10, level: 'info' as const }],
  samples: [{ component: 'host-1', metric: 'cpu', startAge: 1000, stopAge: 0, value: 0.5 }],
});

export const hostFacts: HostFacts = {
  hostname: 'h',
  os: 'Linux',
  release: '6',
  arch: 'x64',
  cpus: 2,
  memoryMb: 24000,
  interfaces: [],
  disks: [],
};
