import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initialHealth, recordCheck } from '../../src/core/health.js';

const t = { rise: 2, fall: 3 };

test('an up server goes down only after `fall` consecutive failures', () => {
  let h = initialHealth();
  h = recordCheck(h, false, t, 'refused');
  h = recordCheck(h, false, t);
  assert.equal(h.up, true);
  h = recordCheck(h, true, t); // a success resets the streak
  h = recordCheck(h, false, t);
  h = recordCheck(h, false, t);
  assert.equal(h.up, true);
  h = recordCheck(h, false, t, 'timeout');
  assert.equal(h.up, false);
  assert.equal(h.lastError, 'timeout');
});

test('a down server comes back only after `rise` consecutive successes', () => {
  let h = { up: false, streak: 0 };
  h = recordCheck(h, true, t);
  assert.equal(h.up, false);
  h = recordCheck(h, false, t);
  h = recordCheck(h, true, t);
  assert.equal(h.up, false);
  h = recordCheck(h, true, t);
  assert.equal(h.up, true);
});

test('thresholds of 1 flip at once', () => {
  const one = { rise: 1, fall: 1 };
  assert.equal(recordCheck(initialHealth(), false, one).up, false);
  assert.equal(recordCheck({ up: false, streak: 0 }, true, one).up, true);
});
