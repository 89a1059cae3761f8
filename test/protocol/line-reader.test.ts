import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { readBoundedLines } from '../../src/protocol/line-reader.js';

function reader(max: number) {
  const s = new PassThrough();
  const lines: string[] = [];
  let tooLong = 0;
  readBoundedLines(
    s,
    max,
    (l) => lines.push(l),
    () => tooLong++,
  );
  return { s, lines, tooLong: () => tooLong };
}

test('lines are split as they stream, across chunks, with CRLF and UTF-8 split between chunks', () => {
  const r = reader(100);
  const euro = Buffer.from('€'); // three bytes
  r.s.write('one\ntw');
  r.s.write(Buffer.concat([Buffer.from('o '), euro.subarray(0, 1)]));
  r.s.write(Buffer.concat([euro.subarray(1), Buffer.from('\r\nthree\n\nfour')]));
  assert.deepEqual(r.lines, ['one', 'two €', 'three', '']);
  r.s.write('\n');
  assert.deepEqual(r.lines.at(-1), 'four');
  assert.equal(r.tooLong(), 0);
});

test('a line past the bound is dropped to its newline and said once; the next line is read', () => {
  const r = reader(10);
  r.s.write('short\n');
  // No newline for a long while: nothing is kept beyond the bound.
  for (let i = 0; i < 1000; i++) r.s.write('x'.repeat(1000));
  assert.equal(r.tooLong(), 1);
  r.s.write('still the same line\nnext\n');
  assert.deepEqual(r.lines, ['short', 'next']);
  r.s.write(`${'y'.repeat(11)}\nok\n`);
  assert.deepEqual(r.lines, ['short', 'next', 'ok']);
  assert.equal(r.tooLong(), 2);
});
