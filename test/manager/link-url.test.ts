import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startManager } from '../../src/manager/manager.js';
import { quiet, tempDir } from '../helpers.js';

const SECRET = 'link-url-test-secret-0123456789abcdef';

function site(manager: string): string {
  const dir = tempDir({
    secret: SECRET,
    'site.yaml': `
interceptor:
  listen: 127.0.0.1:0
manager:
${manager}
  dataDir: ./data
  keys: { agent: ./secret, interceptor: ./secret, mark: ./secret }
servers:
  - { name: web-a, url: http://127.0.0.1:1 }
applications:
  - { name: shop, match: { pathPrefix: / }, servers: [web-a] }
`,
  });
  return join(dir, 'site.yaml');
}

test('a manager told to listen on port 0 by its site file says the port it got, not 0, as the address to dial', async (t) => {
  const manager = await startManager({ configFile: site('  listen: 127.0.0.1:0'), log: quiet });
  t.after(() => manager.close());
  const link = new URL(manager.linkUrl);
  assert.notEqual(link.port, '0');
  assert.equal(link.port, new URL(manager.url).port);
  assert.equal(`${link.protocol}//${link.host}${link.pathname}`, `ws://127.0.0.1:${link.port}/link`);
});

test("a manager's url in the site file is the address to dial, whatever it listens on", async (t) => {
  const manager = await startManager({
    configFile: site('  listen: 127.0.0.1:0\n  url: wss://manager.example:7443/link'),
    log: quiet,
  });
  t.after(() => manager.close());
  assert.equal(manager.linkUrl, 'wss://manager.example:7443/link');
});
