import assert from 'node:assert/strict';
import { test } from 'node:test';
import { componentMac, managerMac, newNonce, verifyMac } from '../../src/protocol/handshake.js';
import { encodeMessage, type Message, parseMessage } from '../../src/protocol/messages.js';

test('the handshake MACs prove the secret both ways and cannot stand for each other', () => {
  const n1 = newNonce();
  const n2 = newNonce();
  assert.notEqual(n1, n2);
  const c = componentMac('s3cret', n1, n2, 'agent', 'host-1');
  assert.ok(verifyMac(c, componentMac('s3cret', n1, n2, 'agent', 'host-1')));
  assert.ok(!verifyMac(c, componentMac('other', n1, n2, 'agent', 'host-1')));
  assert.ok(!verifyMac(c, componentMac('s3cret', n1, n2, 'interceptor', 'host-1')));
  assert.ok(!verifyMac(c, componentMac('s3cret', newNonce(), n2, 'agent', 'host-1')));
  assert.ok(!verifyMac(c, managerMac('s3cret', n1, n2, 'agent', 'host-1')));
  assert.ok(!verifyMac(c, 'short'));
});

test('a valid message round-trips through encode and parse, with defaults filled in', () => {
  const m: Message = {
    v: 1,
    type: 'batch',
    seq: 7,
    records: [
      { server: 'web-a', start: 1, method: 'GET', path: '/x', status: 200, queueWait: 1.5, serviceTime: 20 },
    ],
    events: [],
    samples: [],
  };
  const r = parseMessage(encodeMessage(m));
  assert.deepEqual(r, { ok: true, message: m });
  const short = parseMessage('{"v":1,"type":"batch","seq":1}');
  assert.ok(short.ok && short.message.type === 'batch' && short.message.records.length === 0);
});

test('bad messages are refused with a reason naming the field, never thrown', () => {
  const bad: Array<[string, RegExp]> = [
    ['not json', /^not JSON$/],
    ['{"v":2,"type":"ack","seq":1}', /protocol version 2; this side speaks 1/],
    ['{"v":1,"type":"launch"}', /type/],
    ['{"v":1,"type":"ack","seq":-1}', /^seq: /],
    ['{"v":1,"type":"ack","seq":1,"extra":true}', /extra/],
    ['{"v":1,"type":"batch","seq":0}', /^seq: /],
    [
      '{"v":1,"type":"figures","servers":[{"server":"a b","age":0,"figures":{}}]}',
      /^servers\.0\.(server|figures)/,
    ],
    [
      '{"v":1,"type":"command","id":1,"command":{"op":"redirect","server":"a","target":"javascript:x"}}',
      /command/,
    ],
    ['[]', /message|type/],
    ['null', /message|type/],
  ];
  for (const [input, want] of bad) {
    const r = parseMessage(input);
    assert.equal(r.ok, false, input);
    assert.match((r as { error: string }).error, want, input);
  }
});
