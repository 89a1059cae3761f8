import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configReference } from '../../src/config/reference.js';

test('docs/config.md is what the schema writes (run `npm run docs:config` after changing the schema)', () => {
  const committed = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
  assert.equal(committed, configReference());
});

test('the reference names every key with its path, type and default', () => {
  const doc = configReference();
  assert.match(doc, /\| `applications\[\]\.servers` \(required\) \| list of string \|/);
  assert.match(doc, /\| `interceptor\.healthCheck\.fall` \| integer 1\.\.100 \| `3` \|/);
  assert.match(doc, /\| `interceptor\.obsolescenceTime` \| duration \| `"3s"` \|/);
});
