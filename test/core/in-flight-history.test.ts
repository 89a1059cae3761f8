import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InFlightHistory } from '../../src/core/in-flight-history.js';

test('the count at a past moment: the value that stood then, the current one after the last change', () => {
  const h = new InFlightHistory();
  assert.equal(h.at(5, 0), 0, 'nothing changed yet');
  h.change(10, 0); // 0 -> 1
  h.change(20, 1); // 1 -> 2
  h.change(30, 2); // 2 -> 1
  assert.equal(h.at(5, 1), 0);
  assert.equal(h.at(10, 1), 0, 'at the change itself, the value before it');
  assert.equal(h.at(15, 1), 1);
  assert.equal(h.at(25, 1), 2);
  assert.equal(h.at(35, 1), 1, 'after the last change: the count now');
});

test('changes within a millisecond are one sample, so a past count is off by that millisecond at most', () => {
  const h = new InFlightHistory();
  h.change(10, 0);
  h.change(10.4, 1); // not sampled: within the millisecond
  h.change(12, 2);
  assert.equal(h.at(11, 3), 2, 'the value held just before 12 (the burst at 10-10.4 folded into it)');
});

test('figures older than the samples kept are not read: undefined, so they are not folded in', () => {
  const h = new InFlightHistory();
  for (let t = 0; t < 5000; t += 1) h.change(t, t % 7);
  assert.equal(h.at(100, 3), undefined);
  assert.equal(h.at(4990.5, 3), 4991 % 7);
});
