import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { PROTOCOL_VERSION } from './version.js';

/**
 * How a component proves it knows its role's key (D52) before anything else is
 * accepted, without the secret ever crossing the wire (TLS is optional on top):
 *
 *   manager   → component  challenge { nonce: N1 }
 *   component → manager    auth      { role, id, nonce: N2, mac: HMAC(secret, "c|N1|N2|role|id") }
 *   manager   → component  welcome   { mac: HMAC(secret, "m|N2|N1|role|id"), ... }
 *
 * Each side picks a fresh nonce, so a recorded exchange cannot be replayed against either,
 * and the component learns that the manager knows the secret too (a rogue manager cannot
 * send it commands). The two MACs have different prefixes so one cannot stand for the other.
 *
 * @example
 * const n1 = newNonce(), n2 = newNonce();
 * const mac = componentMac('s3cret', n1, n2, 'agent', 'host-1');
 * verifyMac(mac, componentMac('s3cret', n1, n2, 'agent', 'host-1')); // true
 */

export const ROLES = ['agent', 'interceptor', 'console', 'ctl'] as const;
export type Role = (typeof ROLES)[number];

const nonce = z.string().regex(/^[A-Za-z0-9_-]{22,64}$/, 'expected a base64url nonce');
const mac = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'expected a base64url HMAC-SHA256');
/** Component ids: host names, interceptor names. */
export const componentId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'expected an id');

export const challengeSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('challenge'),
  nonce,
});

export const authSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('auth'),
  role: z.enum(ROLES),
  id: componentId,
  nonce,
  mac,
  /** Last sequence number the manager acknowledged to this component, as far as it knows. */
  lastAcked: z.number().int().min(0).optional(),
});

export const welcomeSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('welcome'),
  mac,
  /** Highest sequence number from this component already stored: replay from the next one. */
  stored: z.number().int().min(0),
  /** The manager's heartbeat interval, ms, so both sides time out alike. */
  heartbeat: z.number().int().min(100).max(600_000),
});

export const refusedSchema = z.strictObject({
  v: z.number().int(),
  type: z.literal('refused'),
  reason: z.string().max(500),
});

export type Challenge = z.infer<typeof challengeSchema>;
export type Auth = z.infer<typeof authSchema>;
export type Welcome = z.infer<typeof welcomeSchema>;

export function newNonce(): string {
  return randomBytes(18).toString('base64url');
}

function hmac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('base64url');
}

export function componentMac(secret: string, n1: string, n2: string, role: Role, id: string): string {
  return hmac(secret, `c|${n1}|${n2}|${role}|${id}`);
}

export function managerMac(secret: string, n1: string, n2: string, role: Role, id: string): string {
  return hmac(secret, `m|${n2}|${n1}|${role}|${id}`);
}

/** Constant-time comparison of two MACs. */
export function verifyMac(got: string, want: string): boolean {
  const a = Buffer.from(got);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}
