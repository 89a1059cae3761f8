import type { Random } from './random.js';

/**
 * How the gateway picks a server for one request (issue 30, document 004 claims 7-9). Unlike
 * a redirecting door it sees every request finish, so it knows each server's requests in
 * flight exactly; capacity C scales them, so a server of twice the power takes twice the load.
 *
 * @example
 * const servers = [{ inFlight: 3, capacity: 1, available: true }, { inFlight: 1, capacity: 1, available: true }];
 * leastRequest(servers, Math.random); // 1, whenever both are drawn
 */

export interface GatewayCandidate {
  /** Requests this gateway has at the server now. */
  inFlight: number;
  /** Static capacity 1..10. */
  capacity: number;
  /** Enabled, healthy and not at a level that takes no new users. */
  available: boolean;
  /**
   * What a new request would cost there, lower is better; default (inFlight + 1) ÷ capacity.
   * The gateway sets it: ramped by slow start, or times the latency for peak-EWMA.
   */
  cost?: number;
}

const costOf = (c: GatewayCandidate) => c.cost ?? (c.inFlight + 1) / c.capacity;

/** Servers that may take this request: available and not tried already. */
function eligible(c: readonly GatewayCandidate[], tried: ReadonlySet<number> | undefined): number[] {
  const out: number[] = [];
  for (let i = 0; i < c.length; i++) if (c[i]!.available && !tried?.has(i)) out.push(i);
  return out;
}

/**
 * Two random choices: draw two distinct eligible servers, take the one that costs less (the
 * first drawn on a tie): with the default cost, fewer requests in flight for its capacity
 * (least request); with latency folded in, peak-EWMA. Two choices rather than the global
 * least avoid herding several gateways onto one server. -1 when none.
 */
export function leastRequest(
  c: readonly GatewayCandidate[],
  random: Random,
  tried?: ReadonlySet<number>,
): number {
  const ok = eligible(c, tried);
  if (ok.length === 0) return -1;
  if (ok.length === 1) return ok[0]!;
  const a = Math.floor(random() * ok.length);
  let b = Math.floor(random() * (ok.length - 1));
  if (b >= a) b++;
  const x = c[ok[a]!]!;
  const y = c[ok[b]!]!;
  return costOf(y) < costOf(x) ? ok[b]! : ok[a]!;
}

/**
 * The eligible server that costs least over all of them, ties drawn at random (the queue
 * choice's rule, for the least-delay policy: with every server's whole load known from its
 * figures, looking at two would throw away what the gateway knows). -1 when none.
 */
export function leastCost(
  c: readonly GatewayCandidate[],
  random: Random,
  tried?: ReadonlySet<number>,
): number {
  let best = -1;
  let bestCost = Number.POSITIVE_INFINITY;
  let ties = 0;
  for (let i = 0; i < c.length; i++) {
    const x = c[i]!;
    if (!x.available || tried?.has(i)) continue;
    const k = costOf(x);
    if (k < bestCost) {
      best = i;
      bestCost = k;
      ties = 1;
    } else if (k === bestCost && random() * ++ties < 1) best = i;
  }
  return best;
}

/**
 * Smooth weighted round robin (as NGINX does it): each pick adds every eligible server's
 * capacity to its credit, takes the one with the most, and charges it the total. Over any
 * stretch each server gets its share of capacity, spread out rather than in runs.
 */
export class RoundRobin {
  private credit: number[] = [];

  pick(c: readonly GatewayCandidate[], tried?: ReadonlySet<number>): number {
    if (this.credit.length !== c.length) this.credit = new Array<number>(c.length).fill(0);
    let best = -1;
    let total = 0;
    for (let i = 0; i < c.length; i++) {
      if (!c[i]!.available || tried?.has(i)) continue;
      this.credit[i]! += c[i]!.capacity;
      total += c[i]!.capacity;
      if (best < 0 || this.credit[i]! > this.credit[best]!) best = i;
    }
    if (best >= 0) this.credit[best]! -= total;
    return best;
  }
}
