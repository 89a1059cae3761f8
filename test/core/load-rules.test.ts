import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadFigure, loadValue, type QueueFigures } from '../../src/core/load-value.js';
import { DEFAULT_SWAMP_PARAMS, recentFlips, swampedReason } from '../../src/core/swamped.js';
import {
  DEFAULT_LEVEL_PARAMS,
  initialLevel,
  nextLevel,
  type ThresholdSpec,
} from '../../src/core/thresholds.js';

const idle: QueueFigures = {
  queueLength: 0,
  busy: 0,
  slots: 4,
  queueDelay: 0,
  serviceTime: 20,
  requests: 100,
  errors: 0,
};

test('L is 10,000 for a short delay, 5,000 at the reference, and falls toward 0', () => {
  const p = { basis: 'queueDelay', reference: 100 } as const;
  assert.equal(loadValue(idle, p), 10_000);
  assert.equal(loadValue({ ...idle, queueDelay: 100 }, p), 5000);
  assert.equal(loadValue({ ...idle, queueDelay: 300 }, p), 2500);
  assert.ok(loadValue({ ...idle, queueDelay: 1e9 }, p) < 1);
  let last = Infinity;
  for (const d of [0, 1, 10, 50, 100, 1000, 10_000]) {
    const L = loadValue({ ...idle, queueDelay: d }, p);
    assert.ok(L < last && L >= 0 && L <= 10_000);
    last = L;
  }
});

test('each basis reads its own figure; bad figures count as zero', () => {
  const f = { ...idle, queueLength: 8, queueDelay: 30, serviceTime: 20, requests: 50, errors: 5 };
  assert.equal(loadFigure(f, 'queueDelay'), 30);
  assert.equal(loadFigure(f, 'totalTime'), 50);
  assert.equal(loadFigure(f, 'queueLength'), 2);
  assert.equal(loadFigure(f, 'errorRate'), 0.1);
  assert.equal(loadFigure({ ...f, requests: 0 }, 'errorRate'), 0);
  assert.equal(loadFigure({ ...f, queueDelay: Number.NaN }, 'queueDelay'), 0);
  assert.equal(loadFigure({ ...f, queueDelay: -5 }, 'queueDelay'), 0);
  assert.equal(loadValue({ ...f, queueLength: 4 }, { basis: 'queueLength', reference: 1 }), 5000);
});

const delay: ThresholdSpec = { metric: 'queueDelay', heavy: 200, max: 500 };
const params = DEFAULT_LEVEL_PARAMS; // hysteresis 0.2, hold 2 s

test('levels rise at once when a reading reaches a threshold', () => {
  let lv = initialLevel(0);
  lv = nextLevel(lv, { queueDelay: 199 }, [delay], params, 100);
  assert.equal(lv.level, 'normal');
  lv = nextLevel(lv, { queueDelay: 200 }, [delay], params, 200);
  assert.deepEqual(lv, { level: 'heavy', since: 200 });
  lv = nextLevel(lv, { queueDelay: 600 }, [delay], params, 300);
  assert.deepEqual(lv, { level: 'max', since: 300 });
});

test('hysteresis: a level is left only a margin below its threshold, and only after the hold', () => {
  let lv = { level: 'heavy' as const, since: 0 };
  // 170 is below 200 but above 200 × 0.8: still heavy.
  assert.equal(nextLevel(lv, { queueDelay: 170 }, [delay], params, 10_000).level, 'heavy');
  // 150 is below the margin, but the level has held only 1 s: still heavy.
  assert.equal(nextLevel(lv, { queueDelay: 150 }, [delay], params, 1000).level, 'heavy');
  lv = nextLevel(lv, { queueDelay: 150 }, [delay], params, 2500) as typeof lv;
  assert.deepEqual(lv, { level: 'normal', since: 2500 });
  // From max, 450 holds max (above 400); 350 drops to heavy, not straight to normal.
  const max = { level: 'max' as const, since: 0 };
  assert.equal(nextLevel(max, { queueDelay: 450 }, [delay], params, 5000).level, 'max');
  assert.equal(nextLevel(max, { queueDelay: 350 }, [delay], params, 5000).level, 'heavy');
});

test('several metrics: the worst one decides; missing readings change nothing', () => {
  const cpu: ThresholdSpec = { metric: 'cpu', heavy: 0.8 };
  const lv = initialLevel(0);
  assert.equal(nextLevel(lv, { queueDelay: 10, cpu: 0.9 }, [delay, cpu], params, 1).level, 'heavy');
  assert.equal(nextLevel(lv, {}, [delay, cpu], params, 1), lv);
  assert.equal(nextLevel(lv, { cpu: Number.NaN }, [cpu], params, 1), lv);
});

test('swamped: all heavy, more than half heavy, or thrashing', () => {
  const p = DEFAULT_SWAMP_PARAMS;
  assert.equal(swampedReason(['heavy'], [], p, 0), 'all-heavy');
  assert.equal(swampedReason(['heavy', 'normal'], [], p, 0), undefined);
  assert.equal(swampedReason(['max', 'heavy', 'normal'], [], p, 0), 'overloaded');
  assert.equal(swampedReason([], [], p, 0), undefined);
  const flips = Array.from({ length: 9 }, (_, i) => i * 1000);
  assert.equal(swampedReason(['normal', 'normal'], flips, p, 10_000), 'thrashing');
  assert.equal(swampedReason(['normal', 'normal'], flips, p, 70_000), undefined);
  assert.deepEqual(recentFlips(flips, p, 66_500), [7000, 8000]);
});
