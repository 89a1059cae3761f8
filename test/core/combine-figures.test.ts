import assert from 'node:assert/strict';
import { test } from 'node:test';
import { combineFigures } from '../../src/core/combine-figures.js';

test("several processes of one server are one server: counts add, means weigh by each one's requests", () => {
  const a = { queueLength: 2, busy: 4, slots: 4, queueDelay: 10, serviceTime: 20, requests: 30, errors: 0 };
  const b = { queueLength: 0, busy: 1, slots: 4, queueDelay: 0, serviceTime: 10, requests: 10, errors: 1 };
  assert.deepEqual(combineFigures([a, b]), {
    queueLength: 2,
    busy: 5,
    slots: 8,
    queueDelay: 7.5,
    serviceTime: 17.5,
    requests: 40,
    errors: 1,
  });
  assert.equal(combineFigures([a]), a);
  // No request finished anywhere: the means weigh equally.
  const idle = combineFigures([
    { ...a, requests: 0 },
    { ...b, requests: 0 },
  ]);
  assert.equal(idle.serviceTime, 15);
  assert.equal(idle.requests, 0);
});
