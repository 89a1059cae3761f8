import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addMark, makeMark, readMark, stripMark } from '../../src/protocol/redirect-mark.js';

const now = 1_800_000_000_000;

test('a mark names the server it came from until it expires, and only with the right secret', () => {
  const m = makeMark('secret', 'web-a', now, 30_000);
  assert.deepEqual(readMark('secret', m, now), { from: 'web-a' });
  assert.deepEqual(readMark('secret', m, now + 29_000), { from: 'web-a' });
  assert.equal(readMark('secret', m, now + 31_000), undefined);
  assert.equal(readMark('other', m, now), undefined);
});

test('forged, altered and malformed marks are ignored', () => {
  const m = makeMark('secret', 'web-a', now);
  const [, exp, mac] = m.split('~');
  assert.equal(readMark('secret', `web-b~${exp}~${mac}`, now), undefined);
  assert.equal(readMark('secret', `web-a~${Number(exp) + 1000}~${mac}`, now), undefined);
  for (const bad of [
    '',
    'web-a',
    'web-a~1',
    '~1~x',
    `web-a~${exp}~${mac}x`,
    'a\r\nb~1~aaaaaaaaaaaaaaaaaaaaaa',
  ]) {
    assert.equal(readMark('secret', bad, now), undefined, bad);
  }
});

test('strip takes the mark out and keeps every other byte; add puts it back', () => {
  assert.deepEqual(stripMark('/a?x=1&sy_from=m1&y=%20'), { pathAndQuery: '/a?x=1&y=%20', mark: 'm1' });
  assert.deepEqual(stripMark('/a?sy_from=m1'), { pathAndQuery: '/a', mark: 'm1' });
  assert.deepEqual(stripMark('/a?x=1'), { pathAndQuery: '/a?x=1', mark: undefined });
  assert.deepEqual(stripMark('/sy_from=x'), { pathAndQuery: '/sy_from=x', mark: undefined });
  assert.deepEqual(stripMark('/a?xsy_from=1'), { pathAndQuery: '/a?xsy_from=1', mark: undefined });
  assert.equal(addMark('/a', 'm'), '/a?sy_from=m');
  assert.equal(addMark('/a?x=1', 'm'), '/a?x=1&sy_from=m');
});
