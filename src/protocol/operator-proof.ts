import { createHmac } from 'node:crypto';

/**
 * The operator's proof on an override an interceptor relays (D52): only the admin token
 * changes overrides, so a change made at an interceptor's admin endpoint travels with an
 * HMAC under that token, over the change and the wall-clock time it was made. The
 * interceptor's own key links it to the manager and authorizes nothing else; a replayed
 * change is refused by its time (OPERATOR_PROOF_SKEW) and, within that, by its proof having
 * been seen.
 *
 * @example
 * const proof = operatorProof(token, { target: 'server', name: 'web-a', enabled: false }, Date.now());
 */

export interface ProvenChange {
  target: 'application' | 'server' | 'all';
  name?: string | undefined;
  enabled?: boolean | undefined;
  capacity?: number | undefined;
  sorryPage?: string | undefined;
  reset?: boolean | undefined;
}

/**
 * How far the time a change says it was made may be from the manager's reckoning of it (its
 * own clock less the change's age): clocks of one site agree far better than this.
 */
export const OPERATOR_PROOF_SKEW = 60_000;

export function operatorProof(token: string, c: ProvenChange, made: number): string {
  // A fixed order of fields, so both sides hash the same text.
  const text = JSON.stringify([
    'override',
    made,
    c.target,
    c.name ?? null,
    c.enabled ?? null,
    c.capacity ?? null,
    c.sorryPage ?? null,
    c.reset ?? false,
  ]);
  return createHmac('sha256', token).update(text).digest('base64url');
}
