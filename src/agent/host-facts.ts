import { readFileSync, statfsSync } from 'node:fs';
import { arch, cpus, hostname, networkInterfaces, release, totalmem, type } from 'node:os';
import type { HostFacts } from '../protocol/messages.js';

/**
 * What this host is (document 002 Table 1, what Linux and macOS expose today): name, OS
 * and release, architecture, CPUs, memory, network interfaces, mounted disks. Sent once per
 * connection; the manager stores it only when it changed (Table 4).
 *
 * @example
 * link.send({ v: 1, type: 'facts', host: hostFacts() });
 */
export function hostFacts(): HostFacts {
  const interfaces: HostFacts['interfaces'] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) {
      interfaces.push({ name, address: a.address, family: a.family, netmask: a.netmask, mac: a.mac });
    }
  }
  return {
    hostname: hostname().slice(0, 255),
    os: type(),
    release: release().slice(0, 128),
    arch: arch(),
    cpus: cpus().length,
    memoryMb: Math.round(totalmem() / 1024 / 1024),
    interfaces: interfaces.slice(0, 256),
    disks: mountedDisks().slice(0, 256),
  };
}

/** Real file systems from /proc/mounts with their size; nothing where /proc is missing. */
export function mountedDisks(mounts = readMounts()): HostFacts['disks'] {
  const out: HostFacts['disks'] = [];
  for (const line of mounts.split('\n')) {
    const [dev, mount] = line.split(' ');
    if (!dev?.startsWith('/dev/') || !mount) continue;
    try {
      const s = statfsSync(mount.replace(/\\040/g, ' '));
      out.push({ mount: mount.slice(0, 512), sizeBytes: s.blocks * s.bsize });
    } catch {
      // A mount we may not stat is left out rather than guessed.
    }
  }
  return out;
}

function readMounts(): string {
  try {
    return readFileSync('/proc/mounts', 'utf8');
  } catch {
    return '';
  }
}
