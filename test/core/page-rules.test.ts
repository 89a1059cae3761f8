import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePageRules, mayMove } from '../../src/core/page-rules.js';

test('stateful: listed pages never move; /banking/* keeps /banking/ itself movable (003)', () => {
  const r = compilePageRules({ mode: 'stateful', pages: ['/banking/*', '/checkout'] });
  assert.equal(mayMove(r, '/banking/'), true);
  assert.equal(mayMove(r, '/banking/transfer'), false);
  assert.equal(mayMove(r, '/banking/a/b'), false);
  assert.equal(mayMove(r, '/banking'), true);
  assert.equal(mayMove(r, '/checkout'), false);
  assert.equal(mayMove(r, '/checkout/done'), true);
  assert.equal(mayMove(r, '/'), true);
});

test('movable: only listed pages may move', () => {
  const r = compilePageRules({ mode: 'movable', pages: ['/static/*', '/'] });
  assert.equal(mayMove(r, '/'), true);
  assert.equal(mayMove(r, '/static/x.css'), true);
  assert.equal(mayMove(r, '/account'), false);
});

test('fixed: listed pages may not move, others may', () => {
  const r = compilePageRules({ mode: 'fixed', pages: ['/admin/*'] });
  assert.equal(mayMove(r, '/admin/users'), false);
  assert.equal(mayMove(r, '/home'), true);
});

test('no pages: stateful and fixed move everything, movable nothing', () => {
  assert.equal(mayMove(compilePageRules({ mode: 'stateful', pages: [] }), '/x'), true);
  assert.equal(mayMove(compilePageRules({ mode: 'movable', pages: [] }), '/x'), false);
});
