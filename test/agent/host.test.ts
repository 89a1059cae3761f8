import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostFacts } from '../../src/agent/host-facts.js';
import { parseCpu, parseDiskStats, parseNetDev, rates, snapshot } from '../../src/agent/host-perf.js';
import { hostFactsSchema } from '../../src/protocol/messages.js';

test('/proc/stat: busy and total jiffies from the cpu line', () => {
  const stat = 'cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\nintr 1\n';
  assert.deepEqual(parseCpu(stat), { busy: 160, total: 1000 });
  assert.equal(parseCpu('intr 1\n'), undefined);
  assert.equal(parseCpu('cpu  a b c d\n'), undefined);
});

test('/proc/net/dev: all interfaces but loopback', () => {
  const text = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo: 5000      50    0    0    0     0          0         0     5000      50    0    0    0     0       0          0',
    '  eth0: 1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0',
    '  eth1: 10        1     0    0    0     0          0         0     20        2     0    0    0     0       0          0',
  ].join('\n');
  assert.deepEqual(parseNetDev(text), { rx: 1010, tx: 2020 });
});

test('/proc/diskstats: whole disks only, sectors of 512 bytes', () => {
  const text = [
    '   8       0 sda 100 0 2000 0 50 0 4000 0 0 0 0',
    '   8       1 sda1 100 0 2000 0 50 0 4000 0 0 0 0',
    ' 259       0 nvme0n1 10 0 10 0 10 0 20 0 0 0 0',
    ' 259       1 nvme0n1p1 10 0 10 0 10 0 20 0 0 0 0',
    '   7       0 loop0 1 0 99 0 0 0 0 0 0 0 0',
  ].join('\n');
  assert.deepEqual(parseDiskStats(text), { read: 2010 * 512, write: 4020 * 512 });
});

test('rates are differences over the interval; a counter that went back is left out', () => {
  const a = {
    at: 0,
    cpu: { busy: 100, total: 1000 },
    net: { rx: 0, tx: 100 },
    memory: 0.5,
    load: [1, 1, 1] as [number, number, number],
  };
  const b = { ...a, at: 2000, cpu: { busy: 400, total: 2000 }, net: { rx: 2000, tx: 50 } };
  const r = rates(a, b);
  assert.equal(r.cpu, 0.3);
  assert.equal(r.netRxBps, 1000);
  assert.equal(r.netTxBps, undefined);
  assert.equal(r.memory, 0.5);
});

test('this host: real facts that pass the message schema, and a real snapshot', () => {
  const facts = hostFacts();
  assert.ok(hostFactsSchema.safeParse(facts).success);
  assert.ok(facts.cpus >= 1 && facts.memoryMb > 0);
  const s = snapshot();
  assert.ok(s.memory > 0 && s.memory < 1);
  if (process.platform === 'linux') assert.ok(s.cpu && s.cpu.total > 0);
});
