import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Delivery } from '../../src/link/delivery.js';
import { type Batch, Outbox } from '../../src/link/outbox.js';
import { eventually } from '../helpers.js';

const body = (n: number) => ({ records: Array.from({ length: n }, (_, i) => i), events: [], samples: [] });

function setup(o: { window?: number; restored?: boolean; lastSeq?: number } = {}) {
  const outbox = new Outbox<number, never, never>(1000, o.lastSeq ?? 0);
  const sent: number[] = [];
  let buffered = 0;
  let up = true;
  const d = new Delivery({
    outbox,
    send: (b: Batch<number, never, never>) => up && sent.push(b.seq) > 0,
    buffered: () => buffered,
    window: o.window ?? 3,
    random: () => 0,
    ...(o.restored !== undefined ? { restored: o.restored } : {}),
  });
  return {
    d,
    outbox,
    sent,
    setBuffered: (n: number) => {
      buffered = n;
    },
    setUp: (v: boolean) => {
      up = v;
    },
  };
}

test('at most a window of batches is in flight; each acknowledgement lets the next go', () => {
  const { d, sent } = setup({ window: 3 });
  d.welcome(0);
  for (let i = 0; i < 6; i++) d.add(body(1));
  assert.deepEqual(sent, [1, 2, 3]);
  d.ack(2);
  assert.deepEqual(sent, [1, 2, 3, 4, 5]);
  d.ack(5);
  assert.deepEqual(sent, [1, 2, 3, 4, 5, 6]);
});

test('a socket with too much unsent holds the batches back until it drains', () => {
  const { d, sent, setBuffered } = setup({ window: 10 });
  d.welcome(0);
  setBuffered(2 << 20);
  d.add(body(1));
  assert.deepEqual(sent, []);
  setBuffered(0);
  d.pump();
  assert.deepEqual(sent, [1]);
});

test('asked to resend, it sends again from the oldest unacknowledged batch, after a pause', async () => {
  const { d, sent } = setup({ window: 3 });
  d.welcome(0);
  for (let i = 0; i < 4; i++) d.add(body(1));
  d.ack(1, true); // 2 failed to store
  d.ack(1, true); // asked again while waiting: one resend only
  assert.deepEqual(sent, [1, 2, 3], 'nothing new during the pause');
  await eventually(() => sent.length === 6, 'the resend', 2000);
  assert.deepEqual(sent, [1, 2, 3, 2, 3, 4]);
  assert.equal(d.resent, 2);
});

test('a welcome replays from what the manager stored; a fresh process follows its numbers', () => {
  const fresh = setup();
  fresh.d.add(body(1));
  fresh.d.add(body(1));
  fresh.d.welcome(40); // the previous process of this name got to 40
  assert.deepEqual(fresh.sent, [41, 42]);

  // Restored from disk with its own numbers (the spool): acknowledged up to what is stored.
  const restored = setup({ restored: true, lastSeq: 9 });
  restored.outbox.restore({ seq: 10, ...body(1) });
  restored.outbox.restore({ seq: 11, ...body(1) });
  restored.d.welcome(10);
  assert.deepEqual(restored.sent, [11]);

  // A manager whose store forgot what it acknowledged: renumbered to follow it, not lost.
  const forgot = setup({ restored: true, lastSeq: 9 });
  forgot.outbox.ack(9);
  forgot.outbox.restore({ seq: 10, ...body(1) });
  forgot.d.welcome(0);
  assert.deepEqual(forgot.sent, [1]);
});

test('after the link comes back, what was in flight is sent again', () => {
  const { d, sent, setUp } = setup({ window: 5 });
  d.welcome(0);
  d.add(body(1));
  d.add(body(1));
  d.down();
  setUp(false);
  d.add(body(1));
  setUp(true);
  d.welcome(1);
  assert.deepEqual(sent, [1, 2, 2, 3]);
});
