import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePorts } from '../../src/lab/free-ports.js';

test('free ports are distinct, bindable, and below the ephemeral range', async () => {
  const ports = await freePorts(20);
  assert.equal(new Set(ports).size, 20);
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
  } catch {}
  for (const p of ports) {
    assert.ok(p >= 1024 && p < ephemeralLow, `${p} is in the ephemeral range from ${ephemeralLow}`);
    const s = createServer();
    await new Promise<void>((ok, fail) => s.once('error', fail).listen(p, '127.0.0.1', ok));
    await new Promise((r) => s.close(r));
  }
});
