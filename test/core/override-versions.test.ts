import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyOverride, resetOverride } from '../../src/core/override-versions.js';

const none = { values: {}, versions: {} };
const ctl = (at: number) => ({ at, by: 'ctl at 10.0.0.5' });
const ic = (at: number) => ({ at, by: 'interceptor ic-1' });

test('the newest change of each field stands, whatever order the changes arrive in', () => {
  // The operator enabled web-a with ctl at 2000; a disable made at ic-1 at 1000, while the
  // manager was away, arrives afterwards: it must not undo the enable.
  const enabled = applyOverride(none, { fields: { enabled: true } }, ctl(2000));
  const late = applyOverride(enabled, { fields: { enabled: false, capacity: 3 } }, ic(1000));
  assert.deepEqual(late.values, { enabled: true, capacity: 3 }, 'the capacity nobody set since is taken');
  assert.deepEqual(late.stale, ['enabled']);
  assert.deepEqual(late.applied, ['capacity']);
  assert.deepEqual(late.versions, { enabled: ctl(2000), capacity: ic(1000) });
  // In order, the later change wins as before.
  const next = applyOverride(late, { fields: { enabled: false } }, ic(3000));
  assert.deepEqual(next.values, { enabled: false, capacity: 3 });
});

test('a reset drops only what is older than itself; a change older than the last reset of everything is stale', () => {
  const set = applyOverride(
    applyOverride(none, { fields: { enabled: false } }, ctl(1000)),
    { fields: { capacity: 4 } },
    ic(3000),
  );
  const reset = applyOverride(set, { reset: true, fields: {} }, ctl(2000));
  assert.deepEqual(reset.values, { capacity: 4 }, 'the capacity set after the reset stays');
  assert.deepEqual(resetOverride(set, ctl(5000)).values, {});
  const before = applyOverride(none, { fields: { enabled: false } }, ic(1000), ctl(2000));
  assert.deepEqual(before.values, {});
  assert.deepEqual(before.stale, ['enabled']);
});
