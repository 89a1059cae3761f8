import type { Readable } from 'node:stream';

/**
 * Splits a stream into lines as it arrives, holding at most `max` bytes of any one line: a
 * longer line is skipped to its newline and reported once, so a peer that never sends a
 * newline cannot grow a buffer until the process dies (issue 29: 600 MiB ended an agent with
 * "Invalid string length"). Lines end with "\n" (a "\r" before it is dropped) and are decoded
 * as UTF-8 whole, so a character split between two chunks stays one character. Used by both
 * ends of the local channel; it imports nothing, for the interface's sake.
 *
 * @example
 * readBoundedLines(socket, 64 * 1024, (line) => handle(line), () => counters.tooLong++);
 */
export function readBoundedLines(
  stream: Readable,
  max: number,
  onLine: (line: string) => void,
  onTooLong: () => void,
): void {
  let parts: Buffer[] = [];
  let size = 0;
  /** Inside a line that passed `max`: dropped up to its newline. */
  let skipping = false;
  const emit = (last: Buffer) => {
    let buf = parts.length === 0 ? last : Buffer.concat([...parts, last]);
    if (buf.length > 0 && buf[buf.length - 1] === 13) buf = buf.subarray(0, buf.length - 1);
    onLine(buf.toString('utf8'));
  };
  stream.on('data', (chunk: Buffer | string) => {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl < 0) {
        const rest = data.length - start;
        if (!skipping && rest > 0) {
          if (size + rest > max) {
            skipping = true;
            parts = [];
            size = 0;
            onTooLong();
          } else {
            parts.push(data.subarray(start));
            size += rest;
          }
        }
        return;
      }
      if (!skipping) {
        const piece = data.subarray(start, nl);
        if (size + piece.length > max) onTooLong();
        else emit(piece);
      }
      parts = [];
      size = 0;
      skipping = false;
      start = nl + 1;
    }
  });
}
