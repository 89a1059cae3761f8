import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * How an interface proves to its agent that it may speak for a server (D50): the agent keeps
 * a local key in a file beside its socket (`<socket>.key`, readable by the owner and group
 * only), sends a fresh nonce as the first line of every connection, and takes a hello only
 * with the nonce's HMAC under that key. Any process on the host could dial the socket before;
 * now only one that can read the key file (the web server's user, given the agent's group).
 * This key opens nothing else: it is not the site secret and logs into no manager.
 *
 * @example
 * const key = ensureLocalKey('/run/switchyard/agent.sock.key');
 * const proof = localProof(key, nonce, 'web-a', 4242);
 * proofMatches(key, nonce, 'web-a', 4242, proof); // true
 */

/** The agent's local key at `file`, made (0640) when there is none. */
export function ensureLocalKey(file: string): Buffer {
  if (!existsSync(file)) {
    try {
      writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o640, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    chmodSync(file, 0o640);
  }
  return readLocalKey(file);
}

export function readLocalKey(file: string): Buffer {
  return Buffer.from(readFileSync(file, 'utf8').trim());
}

export const newNonce = (): string => randomBytes(18).toString('base64url');

export function localProof(key: Buffer, nonce: string, server: string, pid: number): string {
  return createHmac('sha256', key)
    .update(`switchyard-local\n${nonce}\n${server}\n${pid}`)
    .digest('base64url');
}

export function proofMatches(
  key: Buffer,
  nonce: string,
  server: string,
  pid: number,
  proof: string | undefined,
): boolean {
  if (proof === undefined) return false;
  const want = Buffer.from(localProof(key, nonce, server, pid));
  const got = Buffer.from(proof);
  return want.length === got.length && timingSafeEqual(want, got);
}
