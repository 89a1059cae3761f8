import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { LinkClient } from '../../src/link/link-client.js';
import { startManager } from '../../src/manager/manager.js';
import type { Message } from '../../src/protocol/messages.js';
import { PROTOCOL_VERSION } from '../../src/protocol/version.js';
import { eventually, quiet, tempDir } from '../helpers.js';

const SECRET = 'figures-push-test-secret-0123456789abcdef';
const AGENTS = 5;
const PER_AGENT = 4;
const ROUNDS = 20;

const serverName = (agent: number, i: number) => `s${agent}-${i}`;

function site(): string {
  const agents: string[] = [];
  const servers: string[] = [];
  for (let a = 0; a < AGENTS; a++) {
    const own = Array.from({ length: PER_AGENT }, (_, i) => serverName(a, i));
    agents.push(`  - { name: host-${a}, socket: ./a${a}.sock, servers: [${own.join(', ')}] }`);
    for (const s of own) servers.push(`  - { name: ${s}, url: http://127.0.0.1:1 }`);
  }
  const all = servers.map((l) => /name: ([^,]+)/.exec(l)![1]).join(', ');
  const dir = tempDir({
    secret: SECRET,
    'site.yaml': [
      'interceptor:',
      '  listen: 127.0.0.1:0',
      'manager:',
      '  listen: 127.0.0.1:0',
      '  dataDir: ./data',
      '  keys: { agent: ./secret, interceptor: ./secret, mark: ./secret }',
      'agents:',
      ...agents,
      'servers:',
      ...servers,
      'applications:',
      `  - { name: shop, match: { pathPrefix: / }, servers: [${all}] }`,
      '',
    ].join('\n'),
  });
  return join(dir, 'site.yaml');
}

const figures = (round: number) => ({
  queueLength: 0,
  busy: round % 4,
  slots: 4,
  queueDelay: 0,
  serviceTime: 20,
  requests: round,
  errors: 0,
});

test('figures that reach the manager together go to an interceptor in one load message, each server with its latest figures', async (t) => {
  const manager = await startManager({ configFile: site(), log: quiet });
  t.after(() => manager.close());
  const loads: Array<Extract<Message, { type: 'load' }>> = [];
  let interceptorUp = false;
  const interceptor = new LinkClient({
    url: manager.linkUrl,
    role: 'interceptor',
    id: 'ic-test',
    key: SECRET,
    log: quiet,
    onWelcome: () => {
      interceptorUp = true;
    },
    onMessage: (m) => {
      if (m.type === 'load') loads.push(m);
    },
  });
  interceptor.start();
  t.after(() => interceptor.close());
  const agents = Array.from({ length: AGENTS }, (_, a) => {
    const c = new LinkClient({
      url: manager.linkUrl,
      role: 'agent',
      id: `host-${a}`,
      key: SECRET,
      log: quiet,
      onWelcome: () => {},
      onMessage: () => {},
    });
    c.start();
    t.after(() => c.close());
    return c;
  });
  await eventually(() => interceptorUp && agents.every((c) => c.connected), 'every link up');
  const before = loads.length;

  // Every agent sends its rounds at once, one message each: the manager reads several of them
  // in one turn of its event loop.
  for (let round = 1; round <= ROUNDS; round++)
    for (const [a, c] of agents.entries())
      assert.ok(
        c.send({
          v: PROTOCOL_VERSION,
          type: 'figures',
          servers: Array.from({ length: PER_AGENT }, (_, i) => ({
            server: serverName(a, i),
            figures: figures(round),
            age: 0,
          })),
        }),
      );

  // What the interceptor knows of each server last: the last round's figures, for every one.
  const last = new Map<string, number>();
  await eventually(() => {
    for (const m of loads.slice(before))
      for (const s of m.servers) last.set(s.server, s.figures?.requests ?? 0);
    return last.size === AGENTS * PER_AGENT && [...last.values()].every((r) => r === ROUNDS);
  }, 'every server with its last figures at the interceptor');
  const sent = AGENTS * ROUNDS;
  const got = loads.length - before;
  assert.ok(got < sent, `${got} load messages for ${sent} figures messages: some went together`);
});
