import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { QueueFigures } from '../../src/core/load-value.js';
import type { ThresholdSpec } from '../../src/core/thresholds.js';
import { type BoardParams, LoadBoard } from '../../src/manager/load-board.js';

/** Quiet figures: nothing waiting, no errors. */
const fig = (over: Partial<QueueFigures> = {}): QueueFigures => ({
  queueLength: 0,
  busy: 0,
  slots: 4,
  queueDelay: 0,
  serviceTime: 10,
  requests: 100,
  errors: 0,
  ...over,
});

// Hysteresis 0.25 keeps the margins exact: heavy is left below 150 ms, max below 300 ms.
const params = (over: Partial<BoardParams> = {}): BoardParams => ({
  load: { basis: 'queueDelay', reference: 100 },
  level: { hysteresis: 0.25, hold: 1000 },
  swamp: { outShare: 0.5, thrashFlips: 3, thrashWindow: 10_000 },
  averageWindow: 10_000,
  stale: 4000,
  levelWindow: 0,
  ...over,
});

const DELAY: ThresholdSpec = { metric: 'queueDelay', heavy: 200, max: 400 };

/** A board whose servers all have the queue-delay thresholds above; `apps` maps name → servers. */
function board(servers: string[], apps: Record<string, string[]> = {}, p: BoardParams = params()): LoadBoard {
  return new LoadBoard(
    servers.map((name) => ({ name, thresholds: [DELAY] })),
    Object.entries(apps).map(([name, members]) => ({ name, servers: members })),
    p,
    0,
  );
}

/** Reports a queue delay measured and received at `now`, every slot busy (not idle). */
const delay = (b: LoadBoard, server: string, ms: number, now: number) =>
  b.report(server, fig({ queueDelay: ms, busy: 4, requests: 0 }), now, {}, now);

const level = (b: LoadBoard, server: string) => b.server(server)!.level;
const codes = (b: LoadBoard) => b.drainEvents().map((e) => `${e.source} ${e.code}`);

test('L comes from the figures by the configured basis; the reference figure gives 5,000', () => {
  const cases: Array<[BoardParams['load'], Partial<QueueFigures>]> = [
    [{ basis: 'queueDelay', reference: 100 }, { queueDelay: 100 }],
    [
      { basis: 'totalTime', reference: 200 },
      { queueDelay: 50, serviceTime: 150 },
    ],
    [
      { basis: 'queueLength', reference: 1 },
      { queueLength: 4, slots: 4 },
    ],
    [
      { basis: 'errorRate', reference: 0.05 },
      { requests: 200, errors: 10 },
    ],
  ];
  for (const [load, f] of cases) {
    const b = board(['a'], {}, params({ load }));
    b.report('a', fig(f), 0, {}, 0);
    assert.equal(b.server('a')!.L, 5000, load.basis);
  }

  const b = board(['a']);
  delay(b, 'a', 0, 0);
  assert.equal(b.server('a')!.L, 10_000);
  delay(b, 'a', 300, 100);
  assert.equal(b.server('a')!.L, 2500);
  // A reference of 0 falls back to the basis's default (100 ms for queueDelay).
  const d = board(['a'], {}, params({ load: { basis: 'queueDelay', reference: 0 } }));
  delay(d, 'a', 100, 0);
  assert.equal(d.server('a')!.L, 5000);
});

test('a report for a server the board does not know is ignored', () => {
  const b = board(['a'], { shop: ['a', 'ghost'] });
  assert.equal(b.has('a'), true);
  assert.equal(b.has('ghost'), false);
  delay(b, 'ghost', 500, 0);
  assert.equal(b.server('ghost'), undefined);
  assert.deepEqual(b.loads(0), { servers: [], swamped: [] });
  // The unknown member is left out of the application: one heavy server makes it all-heavy.
  delay(b, 'a', 200, 0);
  assert.equal(b.swamped('shop'), 'all-heavy');
});

test('levels rise as soon as a reading reaches a threshold', () => {
  const b = board(['a']);
  delay(b, 'a', 199, 0);
  assert.equal(level(b, 'a'), 'normal');
  delay(b, 'a', 200, 10);
  assert.equal(level(b, 'a'), 'heavy');
  delay(b, 'a', 400, 20); // no hold on the way up
  assert.equal(level(b, 'a'), 'max');
  assert.deepEqual(b.drainEvents(), [
    { source: 'a', code: 'server.level.heavy', level: 'warn', text: 'a went from normal to heavy load' },
    { source: 'a', code: 'server.level.max', level: 'warn', text: 'a went from heavy to max load' },
  ]);

  // Straight from normal to max.
  const c = board(['c']);
  delay(c, 'c', 1000, 0);
  assert.equal(level(c, 'c'), 'max');
});

test('every threshold metric counts: queue length per slot and the host readings', () => {
  const b = new LoadBoard(
    [
      { name: 'q', thresholds: [{ metric: 'queueLength', heavy: 2, max: 5 }] },
      { name: 'cpu', thresholds: [{ metric: 'cpu', max: 0.9 }] },
      { name: 'mem', thresholds: [{ metric: 'memory', heavy: 0.8 }] },
    ],
    [],
    params(),
    0,
  );
  b.report('q', fig({ queueLength: 7, slots: 4 }), 0, {}, 0); // 1.75 per slot
  assert.equal(level(b, 'q'), 'normal');
  b.report('q', fig({ queueLength: 8, slots: 4 }), 10, {}, 10); // 2 per slot
  assert.equal(level(b, 'q'), 'heavy');
  b.report('cpu', fig(), 0, { cpu: 0.95 }, 0);
  assert.equal(level(b, 'cpu'), 'max');
  b.report('mem', fig(), 0, { cpu: 0.99 }, 0); // no memory reading: the level does not move
  assert.equal(level(b, 'mem'), 'normal');
  b.report('mem', fig(), 10, { memory: 0.85 }, 10);
  assert.equal(level(b, 'mem'), 'heavy');
});

test('a level falls only once the reading is below threshold × (1 − hysteresis)', () => {
  const b = board(['a']);
  delay(b, 'a', 400, 0);
  delay(b, 'a', 300, 5000); // max × 0.75: still max
  assert.equal(level(b, 'a'), 'max');
  delay(b, 'a', 299, 6000);
  assert.equal(level(b, 'a'), 'heavy');
  delay(b, 'a', 150, 8000); // heavy × 0.75: still heavy
  assert.equal(level(b, 'a'), 'heavy');
  delay(b, 'a', 149, 9000);
  assert.equal(level(b, 'a'), 'normal');
  // From max straight to normal when the reading falls below both margins.
  delay(b, 'a', 500, 10_000);
  delay(b, 'a', 10, 11_000);
  assert.equal(level(b, 'a'), 'normal');
});

test('a level falls only after it has held for `hold` ms', () => {
  const b = board(['a']);
  delay(b, 'a', 250, 0);
  assert.equal(level(b, 'a'), 'heavy');
  delay(b, 'a', 0, 500);
  delay(b, 'a', 0, 999);
  assert.equal(level(b, 'a'), 'heavy');
  delay(b, 'a', 0, 1000);
  assert.equal(level(b, 'a'), 'normal');
  // The hold counts from when the level was entered: rising to max restarts it.
  delay(b, 'a', 250, 2000);
  delay(b, 'a', 450, 2900);
  delay(b, 'a', 0, 3500); // heavy was entered 1500 ms ago, max only 600 ms ago
  assert.equal(level(b, 'a'), 'max');
  delay(b, 'a', 0, 3900);
  assert.equal(level(b, 'a'), 'normal');
});

test('redirects: a server at max, with fresh figures, not failed, its applications not swamped', () => {
  const b = board(['a', 'b', 'c', 'd'], { shop: ['a', 'b', 'c'] });
  delay(b, 'a', 400, 0);
  delay(b, 'b', 0, 0);
  delay(b, 'c', 0, 0);
  delay(b, 'd', 300, 0); // heavy is not enough
  assert.deepEqual([...b.redirects(0)], ['a']);
  assert.deepEqual([...b.redirects(4000)], ['a'], 'figures exactly `stale` old are still fresh');
  assert.deepEqual([...b.redirects(4001)], [], 'stale figures do not redirect');

  b.setFailed('a', 'connection refused', 100);
  assert.deepEqual([...b.redirects(100)], []);
  b.setFailed('a', undefined, 200);
  assert.deepEqual([...b.redirects(200)], ['a']);

  // b heavy too: two of three heavy or worse is more than half, so shop is swamped.
  delay(b, 'b', 200, 300);
  assert.equal(b.swamped('shop'), 'overloaded');
  assert.deepEqual([...b.redirects(300)], []);
  delay(b, 'b', 0, 1300);
  assert.equal(b.swamped('shop'), undefined);
  assert.deepEqual([...b.redirects(1300)], ['a']);
});

test('a server at max in no application redirects on its own', () => {
  const b = board(['solo']);
  delay(b, 'solo', 400, 0);
  assert.deepEqual([...b.redirects(0)], ['solo']);
});

test('swamped: every available server heavy', () => {
  const b = board(['a', 'b'], { shop: ['a', 'b'] });
  delay(b, 'a', 200, 0);
  delay(b, 'b', 0, 0);
  assert.equal(b.swamped('shop'), undefined, 'one of two heavy is not more than half');
  codes(b);
  delay(b, 'b', 400, 10);
  assert.equal(b.swamped('shop'), 'all-heavy');
  assert.deepEqual(b.loads(10).swamped, ['shop']);
  const swampEvent = b.drainEvents().find((e) => e.code === 'application.swamped');
  assert.deepEqual(swampEvent, {
    source: 'shop',
    code: 'application.swamped',
    level: 'warn',
    text: 'shop is swamped (all-heavy): every available server back in rotation, no server-side redirecting',
  });
  // A server at max in a swamped application does not redirect.
  assert.deepEqual([...b.redirects(10)], []);
  delay(b, 'a', 0, 2000);
  assert.equal(b.swamped('shop'), undefined);
  assert.deepEqual(b.drainEvents().at(-1), {
    source: 'shop',
    code: 'application.normal',
    level: 'info',
    text: 'shop is no longer swamped',
  });
  assert.deepEqual([...b.redirects(2000)], ['b']);
});

test('swamped: more than half of the servers heavily loaded', () => {
  const b = board(['a', 'b', 'c', 'd'], { shop: ['a', 'b', 'c', 'd'] });
  for (const s of ['a', 'b', 'c', 'd']) delay(b, s, 0, 0);
  delay(b, 'a', 200, 10);
  delay(b, 'b', 200, 10);
  assert.equal(b.swamped('shop'), undefined, 'two of four is exactly half');
  delay(b, 'c', 200, 10);
  assert.equal(b.swamped('shop'), 'overloaded');
});

test('swamped: more than half of the capacity heavily loaded, counted in slots, not servers', () => {
  const b = board(['a', 'b', 'c', 'd'], { shop: ['a', 'b', 'c', 'd'] });
  const report = (s: string, slots: number, ms: number) =>
    b.report(s, fig({ slots, busy: slots, queueDelay: ms }), 10, {}, 10);
  report('a', 2, 0);
  report('b', 2, 0);
  report('c', 8, 0);
  report('d', 8, 200);
  assert.equal(b.swamped('shop'), undefined, '8 of 20 slots heavy');
  report('c', 8, 200);
  // Two of four servers, but 16 of 20 slots: the two weak ones would take every new user.
  assert.equal(b.swamped('shop'), 'overloaded');
});

test('swamped: no room when the servers left in rotation cannot take what the heavy ones get', () => {
  // Every 25 ms each server finishes what it got. Each has 8 slots of 20 ms (400 a second);
  // a gets 400 a second, b and c 360 each.
  const b = board(['a', 'b', 'c'], { shop: ['a', 'b', 'c'] });
  const step = (t: number, aDelay: number) => {
    b.report('a', fig({ slots: 8, busy: 8, serviceTime: 20, requests: 10, queueDelay: aDelay }), t, {}, t);
    for (const s of ['b', 'c'])
      b.report(s, fig({ slots: 8, busy: 8, serviceTime: 20, requests: 9, queueDelay: 0 }), t, {}, t);
  };
  for (let t = 0; t <= 500; t += 25) step(t, 0);
  assert.equal(b.swamped('shop'), undefined);
  // a goes heavy: a third of the slots, but b and c have 80 a second of room between them
  // and a gets 400: no room.
  step(525, 300);
  assert.equal(b.swamped('shop'), 'no-room');
  // With b and c nearly idle (a tenth of their capacity used), there is room: not swamped.
  const c = board(['a', 'b', 'c'], { shop: ['a', 'b', 'c'] });
  for (let t = 0; t <= 500; t += 25) {
    c.report(
      'a',
      fig({ slots: 8, busy: 8, serviceTime: 20, requests: 1, queueDelay: t === 500 ? 300 : 0 }),
      t,
      {},
      t,
    );
    for (const s of ['b', 'c'])
      c.report(s, fig({ slots: 20, busy: 20, serviceTime: 20, requests: 2 }), t, {}, t);
  }
  assert.equal(level(c, 'a'), 'heavy');
  assert.equal(c.swamped('shop'), undefined);
});

test('swamped: servers changing level more than thrashFlips times within thrashWindow', () => {
  const b = board(
    ['a', 'b', 'c'],
    { shop: ['a', 'b', 'c'] },
    params({ level: { hysteresis: 0.25, hold: 0 } }),
  );
  delay(b, 'a', 200, 0); // flip 1
  delay(b, 'a', 0, 1); // flip 2
  delay(b, 'a', 200, 2); // flip 3
  assert.equal(b.swamped('shop'), undefined, 'three flips is not more than three');
  delay(b, 'a', 0, 3); // flip 4
  assert.equal(b.swamped('shop'), 'thrashing');
  assert.ok(codes(b).includes('shop application.swamped'));
  b.tick(10_000); // the first flip is exactly a window old: still counted
  assert.equal(b.swamped('shop'), 'thrashing');
  b.tick(10_001);
  assert.equal(b.swamped('shop'), undefined);
  assert.deepEqual(codes(b), ['shop application.normal']);
});

test('a site with an idle server is never swamped, whatever the others do', () => {
  const b = board(
    ['a', 'b', 'c'],
    { shop: ['a', 'b', 'c'] },
    params({ level: { hysteresis: 0.25, hold: 0 } }),
  );
  delay(b, 'a', 400, 0);
  delay(b, 'b', 400, 0);
  b.report('c', fig({ busy: 1 }), 0, {}, 0); // a free slot, nothing waiting
  assert.equal(b.swamped('shop'), undefined, 'two of three at max, but c can take users');
  for (let t = 1; t <= 8; t++) delay(b, 'a', t % 2 ? 0 : 400, t); // a flaps eight times
  assert.equal(b.swamped('shop'), undefined, 'flips do not swamp a site that has room');
  b.report('c', fig({ busy: 4 }), 9, {}, 9); // c full: now it is
  assert.equal(b.swamped('shop'), 'overloaded');
});

test('levels move on queue readings averaged over levelWindow, so one noisy report does not flap them', () => {
  const b = board(['a'], {}, params({ levelWindow: 1000, level: { hysteresis: 0.25, hold: 0 } }));
  // Steady at 450 ms (max from 400), with every fourth 25 ms report at 150 (below both
  // margins): each report alone would flap max, heavy, max...
  let flips = 0;
  for (let t = 0; t <= 5000; t += 25) {
    delay(b, 'a', t % 100 === 75 ? 150 : 450, t);
    flips += codes(b).filter((c) => c.includes('server.level')).length;
  }
  assert.equal(level(b, 'a'), 'max');
  assert.equal(flips, 1, 'one rise to max, no flapping');
  // A real overload still shows within about a second: from 0 to a steady 1,000 ms.
  const c = board(['c'], {}, params({ levelWindow: 1000 }));
  let at = -1;
  for (let t = 0; t <= 3000 && at < 0; t += 25) {
    delay(c, 'c', t < 100 ? 0 : 1000, t);
    if (level(c, 'c') === 'max') at = t;
  }
  assert.ok(at > 100 && at <= 1100, `max at ${at} ms`);
});

test('a failed server is left out when judging whether its application is swamped', () => {
  const b = board(['a', 'b'], { shop: ['a', 'b'] });
  delay(b, 'a', 200, 0);
  delay(b, 'b', 0, 0);
  assert.equal(b.swamped('shop'), undefined);
  b.setFailed('b', 'refused', 10);
  assert.equal(b.swamped('shop'), 'all-heavy');
  b.setFailed('b', undefined, 20);
  assert.equal(b.swamped('shop'), 'all-heavy', 'a swamped application stays so for a hold');
  b.tick(1010);
  assert.equal(b.swamped('shop'), undefined);
  // With every server failed there is nothing left to be heavy.
  const c = board(['a'], { shop: ['a'] });
  delay(c, 'a', 0, 0);
  c.setFailed('a', 'refused', 0);
  assert.equal(c.swamped('shop'), undefined);
});

test('a server without figures counts as normal for swamping', () => {
  const two = board(['a', 'b'], { shop: ['a', 'b'] });
  delay(two, 'a', 200, 0); // b never reported
  assert.equal(two.swamped('shop'), undefined, 'not all-heavy: b can still take users');

  const three = board(['a', 'b', 'c'], { shop: ['a', 'b', 'c'] });
  delay(three, 'a', 200, 0);
  delay(three, 'b', 200, 0); // c never reported
  assert.equal(three.swamped('shop'), 'overloaded');
});

test('setFailed gives one server.down and one server.up event', () => {
  const b = board(['a']);
  b.setFailed('a', 'connection refused', 0);
  assert.deepEqual(b.drainEvents(), [
    { source: 'a', code: 'server.down', level: 'error', text: 'a is down: connection refused' },
  ]);
  b.setFailed('a', 'connection refused', 1);
  b.setFailed('a', 'timeout', 2); // still down, for another reason: no second event
  assert.deepEqual(b.drainEvents(), []);
  assert.equal(b.server('a')!.failed, 'timeout');
  b.setFailed('a', undefined, 3);
  assert.deepEqual(b.drainEvents(), [{ source: 'a', code: 'server.up', level: 'info', text: 'a is back' }]);
  b.setFailed('a', undefined, 4);
  b.setFailed('ghost', 'refused', 5);
  assert.deepEqual(b.drainEvents(), []);
  assert.equal(b.server('a')!.failed, undefined);
});

test('tick drops a server whose figures went stale back to normal', () => {
  const b = board(['a', 'b']);
  delay(b, 'a', 400, 0);
  delay(b, 'b', 400, 3000);
  codes(b);
  b.tick(4000);
  assert.equal(level(b, 'a'), 'max', 'figures exactly `stale` old are still fresh');
  b.tick(4001);
  assert.equal(level(b, 'a'), 'normal');
  assert.equal(level(b, 'b'), 'max', 'fresh figures keep their level');
  assert.deepEqual(b.drainEvents(), [
    { source: 'a', code: 'server.level.normal', level: 'info', text: 'a went from max to normal load' },
  ]);
  b.tick(4002); // already normal: nothing more
  assert.deepEqual(b.drainEvents(), []);
  // New figures move it again.
  delay(b, 'a', 400, 5000);
  assert.equal(level(b, 'a'), 'max');
});

test('loads: ages are now − measuredAt; failed servers without figures are included', () => {
  const b = board(['a', 'b', 'c']);
  b.report('a', fig({ queueDelay: 100 }), 1000, {}, 1200);
  b.setFailed('b', 'refused', 1200);
  assert.deepEqual(b.loads(1500), {
    servers: [
      {
        server: 'a',
        L: 5000,
        figures: fig({ queueDelay: 100 }),
        age: 500,
        level: 'normal',
        failed: false,
        average: 5000,
      },
      { server: 'b', L: 10_000, age: 1500, level: 'normal', failed: true },
    ],
    swamped: [],
  });
  // Never negative, never beyond what the protocol accepts.
  assert.equal(b.loads(900).servers[0]!.age, 0);
  assert.equal(b.loads(1e12).servers[1]!.age, 1e10);
});

test('the average moves toward L with time constant averageWindow', () => {
  const b = board(['a']); // averageWindow 10 s
  delay(b, 'a', 0, 0);
  assert.equal(b.server('a')!.average, 10_000, 'the first report sets it');
  delay(b, 'a', 100, 10_000); // L 5000 one time constant later: 1 − 1/e of the way
  const expected = 5000 + 5000 * Math.exp(-1);
  assert.ok(Math.abs(b.server('a')!.average! - expected) < 1e-6);
  assert.equal(b.loads(10_000).servers[0]!.average, Math.round(expected));
  delay(b, 'a', 100, 10_000); // no time passed: no movement
  assert.ok(Math.abs(b.server('a')!.average! - expected) < 1e-6);

  // Two half-window steps move it as far as one whole-window step: it follows time, not reports.
  const c = board(['a']);
  delay(c, 'a', 0, 0);
  delay(c, 'a', 100, 5000);
  delay(c, 'a', 100, 10_000);
  assert.ok(Math.abs(c.server('a')!.average! - expected) < 1e-6);

  // Long after, it has caught up.
  delay(c, 'a', 100, 1_000_000);
  assert.ok(Math.abs(c.server('a')!.average! - 5000) < 1e-6);

  // With no window it is L itself.
  const d = board(['a'], {}, params({ averageWindow: 0 }));
  delay(d, 'a', 0, 0);
  delay(d, 'a', 100, 1);
  assert.equal(d.server('a')!.average, 5000);
});

test('drainEvents hands each event over once, in order', () => {
  const b = board(['a']);
  delay(b, 'a', 200, 0);
  b.setFailed('a', 'refused', 1);
  assert.deepEqual(codes(b), ['a server.level.heavy', 'a server.down']);
  assert.deepEqual(b.drainEvents(), []);
  b.setFailed('a', undefined, 2);
  assert.deepEqual(codes(b), ['a server.up']);
});

test('a report touches only its server and its applications, however many servers the board has (issue 29)', () => {
  // Counts the board's reads of one server's state (fresh, idle) during one report and one
  // `loads` of the servers it named.
  const proto = LoadBoard.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const reads = { n: 0 };
  const real = { fresh: proto.fresh!, idle: proto.idle! };
  for (const k of ['fresh', 'idle'] as const)
    proto[k] = function (this: unknown, ...a: unknown[]) {
      reads.n++;
      return real[k].apply(this, a);
    };
  try {
    const counts: number[] = [];
    for (const n of [10, 1000]) {
      const names = Array.from({ length: n }, (_, i) => `s${i}`);
      const b = board(names, { all: names, pair: ['s0', 's1'] });
      // Every server idle: a free slot, nothing waiting.
      for (const s of names) b.report(s, fig({ busy: 1 }), 0, {}, 0);
      let total = 0;
      for (let t = 1; t <= 20; t++) {
        reads.n = 0;
        // s0 (in both applications) and s5 turn busy and idle again: each turn re-reads whether
        // their applications are swamped.
        for (const s of ['s0', 's5'])
          b.report(s, fig({ busy: t % 2 === 0 ? 1 : 4, queueLength: t % 2 }), t, {}, t);
        const out = b.loads(t, new Set(['s0', 's5']));
        assert.deepEqual(
          out.servers.map((x) => x.server),
          ['s0', 's5'],
        );
        total += reads.n;
      }
      assert.equal(b.swamped('all'), undefined);
      counts.push(total);
    }
    assert.ok(counts[0]! > 0);
    assert.equal(counts[1], counts[0], `reads for 10 servers and for 1,000: ${counts.join(', ')}`);
  } finally {
    Object.assign(proto, real);
  }
});

test('loads of the servers a message named lists them in the site order, with the swamped applications', () => {
  const b = board(['a', 'b', 'c', 'd'], { shop: ['a', 'b'] });
  for (const s of ['a', 'b', 'c', 'd']) delay(b, s, 500, 0);
  const all = b.loads(10);
  const some = b.loads(10, new Set(['d', 'nobody', 'b']));
  assert.deepEqual(some.servers, [all.servers[1], all.servers[3]]);
  assert.deepEqual(some.swamped, ['shop']);
  assert.deepEqual(all.swamped, ['shop']);
  // What loads returns is the caller's: changing it changes nothing on the board.
  some.swamped.push('x');
  assert.deepEqual(b.loads(10).swamped, ['shop']);
});

test('whether an application has an idle member is what reading every member says, as members go idle, busy, failed and stale', () => {
  const names = ['a', 'b', 'c', 'd', 'e'];
  const b = board(names, { shop: names, two: ['a', 'b'] });
  let x = 12345;
  const random = () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
  const inside = b as unknown as {
    apps: Array<{ cfg: { name: string }; members: unknown[]; swamped: unknown }>;
    anyIdle(a: unknown, now: number): boolean;
    idle(s: unknown, now: number): boolean;
  };
  let swamped = 0;
  let idle = 0;
  for (let t = 0; t < 20_000; t += 7) {
    const s = names[Math.floor(random() * names.length)]!;
    const r = random();
    if (r < 0.04) b.setFailed(s, r < 0.02 ? 'gone' : undefined, t);
    else if (r < 0.1) b.tick(t);
    // A server reports about every 2 s, so some go stale (4 s) between reports.
    else if (r < 0.12) {
      const busy = random() < 0.6;
      b.report(s, fig({ busy: busy ? 4 : 1, queueDelay: busy ? 500 : 0, requests: 0 }), t, {}, t);
    }
    for (const a of inside.apps) {
      const reading = a.members.some(
        (m) => (m as { failed?: string }).failed === undefined && inside.idle(m, t),
      );
      assert.equal(inside.anyIdle(a, t), reading, `t=${t} ${a.cfg.name}`);
      if (a.swamped) swamped++;
      if (reading) idle++;
    }
  }
  assert.ok(
    swamped > 0 && idle > 0,
    `the walk swamped an application (${swamped}) and had idle members (${idle})`,
  );
  // A clock read back in time (not the manager's, which is monotonic) still gets the truth.
  for (const t of [30_000, 19_000, 18_000, 25_000, 17_500])
    for (const a of inside.apps) {
      const reading = a.members.some(
        (m) => (m as { failed?: string }).failed === undefined && inside.idle(m, t),
      );
      assert.equal(inside.anyIdle(a, t), reading, `back to t=${t} ${a.cfg.name}`);
    }
});
