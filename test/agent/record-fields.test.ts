import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../../src/agent/agent.js';
import { ensureToken } from '../../src/config/admin-token.js';
import { createInterface } from '../../src/interface/index.js';
import { startManager } from '../../src/manager/manager.js';
import { ALL_FIELDS, FIELD_BITS } from '../../src/protocol/local-record.js';
import { eventually, httpRequest, openDatabase, quiet, tempDir } from '../helpers.js';

const SECRET = 'record-fields-test-secret-0123456789';

function site(fields: string): string {
  return tempDir({
    secret: SECRET,
    'site.yaml': `
interceptor:
  listen: 127.0.0.1:0
manager:
  listen: 127.0.0.1:0
  dataDir: ./data
  keys: { agent: ./secret, interceptor: ./secret, mark: ./secret }
agents:
  - name: host-1
    socket: ./agent.sock
    servers: [web-a]
    probeInterval: 0
    batch: { age: 50ms }
${fields}
servers:
  - { name: web-a, url: http://127.0.0.1:1 }
applications:
  - { name: shop, match: { pathPrefix: / }, servers: [web-a] }
`,
  });
}

test("the agent sets the site file's record fields in each interface, and records carry only those", async (t) => {
  const dir = site('    fields: [query, bytes]');
  const file = join(dir, 'site.yaml');
  const log = quiet;
  const manager = await startManager({ configFile: file, listen: '127.0.0.1:0', log });
  t.after(() => manager.close());
  const agent = await startAgent({ configFile: file, name: 'host-1', managerUrl: manager.linkUrl, log });
  t.after(() => agent.close());
  const iface = createInterface({
    server: 'web-a',
    slots: 4,
    markKey: SECRET,
    agentSocket: agent.socket,
    log,
  });
  t.after(() => iface.close());
  // Asked before any await: the interface has not reached its agent yet.
  assert.equal(iface.fieldMask, ALL_FIELDS, 'all fields until the agent says otherwise');
  const server: Server = createServer(iface.wrap((_req, res) => res.end('hello')));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));

  await eventually(
    () => iface.fieldMask === (FIELD_BITS.query | FIELD_BITS.bytes),
    'the mask from the agent',
  );
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fields?a=1`;
  const answer = await httpRequest(url, {
    headers: { 'user-agent': 'test-browser/1.0', referer: 'http://x/' },
  });
  assert.equal(answer.status, 200);

  const db = openDatabase(join(dir, 'data', 'switchyard.db'), { readonly: true });
  t.after(() => db.close());
  const row = await eventually(
    () =>
      db.prepare("SELECT * FROM records WHERE path = '/fields'").get() as Record<string, unknown> | undefined,
    'the record in the store',
    10_000,
  );
  assert.equal(row.query, 'a=1');
  assert.equal(row.bytes, 5);
  assert.equal(row.status, 200);
  for (const absent of ['client', 'protocol', 'content_type', 'user_agent', 'referrer', 'cookies', 'aborted'])
    assert.equal(row[absent], null, `${absent} is left out`);
});

test('agents[].fields: an unknown or repeated field is refused with its key path', async () => {
  const { loadSite } = await import('../../src/config/load.js');
  assert.throws(
    () => loadSite(join(site('    fields: [query, cookie]'), 'site.yaml')),
    /agents\.0\.fields\.1.*"cookie"|agents\[0\]\.fields\[1\]/s,
  );
  assert.throws(
    () => loadSite(join(site('    fields: [query, query]'), 'site.yaml')),
    /a field is named twice/,
  );
});

test('several processes of one server are one server at the manager; one leaving marks nothing failed', async (t) => {
  const dir = site('');
  const file = join(dir, 'site.yaml');
  const log = quiet;
  const manager = await startManager({ configFile: file, listen: '127.0.0.1:0', log });
  t.after(() => manager.close());
  const agent = await startAgent({ configFile: file, name: 'host-1', managerUrl: manager.linkUrl, log });
  t.after(() => agent.close());
  const { token } = ensureToken(file, undefined);
  const web = async () => {
    const r = await fetch(`${manager.url}/status`, { headers: { authorization: `Bearer ${token}` } });
    const v = (await r.json()) as {
      servers: Array<{ server: string; failed: boolean; figures?: { slots: number } }>;
    };
    return v.servers.find((s) => s.server === 'web-a')!;
  };
  // Two workers of web-a (as Node cluster would start), 4 and 2 slots.
  const one = createInterface({ server: 'web-a', slots: 4, markKey: SECRET, agentSocket: agent.socket, log });
  const two = createInterface({ server: 'web-a', slots: 2, markKey: SECRET, agentSocket: agent.socket, log });
  t.after(() => {
    one.close();
    two.close();
  });
  await eventually(async () => (await web()).figures?.slots === 6, 'the two workers summed: 6 slots', 5000);
  two.close();
  await eventually(async () => (await web()).figures?.slots === 4, 'one worker left: 4 slots', 5000);
  assert.equal((await web()).failed, false, 'a worker leaving is not the server failing');
});

test('the agent serves /metrics: its link, its buffer and spool, its interfaces, what it refused', async (t) => {
  const dir = site('');
  const file = join(dir, 'site.yaml');
  const log = quiet;
  const manager = await startManager({ configFile: file, listen: '127.0.0.1:0', log });
  t.after(() => manager.close());
  const agent = await startAgent({ configFile: file, name: 'host-1', managerUrl: manager.linkUrl, log });
  t.after(() => agent.close());
  const iface = createInterface({
    server: 'web-a',
    slots: 4,
    markKey: SECRET,
    agentSocket: agent.socket,
    log,
  });
  t.after(() => iface.close());
  const read = async () => (await fetch(`${agent.metricsUrl}/metrics`)).text();
  const text = await eventually(
    async () => {
      const m = await read();
      return /switchyard_agent_manager_connected 1/.test(m) && /switchyard_agent_interfaces 1/.test(m)
        ? m
        : undefined;
    },
    'the agent linked, with its interface',
    5000,
  );
  for (const name of [
    'switchyard_agent_outbox_items',
    'switchyard_agent_spool_bytes',
    'switchyard_agent_dropped_items',
    'switchyard_agent_manager_link_drops_total',
    'switchyard_agent_records_total',
    'process_cpu_seconds_total',
  ])
    assert.match(text, new RegExp(`^${name} `, 'm'), name);
  assert.equal((await fetch(`${agent.metricsUrl}/healthz`)).status, 200);
});
