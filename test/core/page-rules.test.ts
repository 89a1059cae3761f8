import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePageRules, mayMove, serverPageRules } from '../../src/core/page-rules.js';

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

test("a server's rules come from its applications in the site file; several take the cautious union", () => {
  const apps = [
    { servers: ['web-a', 'web-b'], stateful: ['/cart/*'] },
    { servers: ['web-b'], fixed: ['/login'] },
    { servers: ['web-c'], movable: ['/static/*'] },
    { servers: ['web-c', 'web-d'], stateful: ['/admin/*'] },
  ];
  assert.deepEqual(serverPageRules(apps, 'web-a'), { mode: 'stateful', pages: ['/cart/*'] });
  assert.deepEqual(serverPageRules(apps, 'web-b'), { mode: 'stateful', pages: ['/cart/*', '/login'] });
  // Only the listed movable pages move; /admin/* is not among them, so it stays too.
  assert.deepEqual(serverPageRules(apps, 'web-c'), { mode: 'movable', pages: ['/static/*'] });
  assert.deepEqual(serverPageRules(apps, 'web-e'), { mode: 'stateful', pages: [] });
});
