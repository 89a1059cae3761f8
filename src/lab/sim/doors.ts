import { proxySettings } from '../../config/gateway-schema.js';
import type { LoadedSite } from '../../config/load.js';
import type { Random } from '../../core/random.js';
import { type AppGateway, appGatewayFor, FULL, limitNow, pickServer } from '../../gateway/choose.js';
import { ended, newServerSide, type ServerSide, type ServerSides, sent } from '../../gateway/upstreams.js';
import { decideForApp, parseTarget } from '../../interceptor/decide.js';
import { emptyOverrides } from '../../interceptor/overrides.js';
import { type AppState, SiteState } from '../../interceptor/site-state.js';
import type { ServerLoad } from '../../protocol/messages.js';

/**
 * The simulator's front doors. A proxy door sees every request of its own finish; a
 * redirect door only ever sees the request it redirects. Both hand a request on through
 * `go(server)`; -1 means it could not be placed (a redirect door had no server, or the
 * client gave up while it waited in a proxy's queue).
 */

export interface LoadMessage {
  servers: ServerLoad[];
  swamped: string[];
  doors?: number;
}

export interface Routed {
  /** When the client gives up. */
  deadline: number;
  /** A server the request must not go to (it was redirected away from it). */
  exclude?: number;
  go(server: number): void;
}

export interface Door {
  readonly kind: 'proxy' | 'redirect';
  route(now: number, r: Routed): void;
  /** Proxies: a request this door sent to `server` has been answered. */
  finished(server: number, now: number): void;
  /** The manager's push (Switchyard's dynamic mode). */
  load(msg: LoadMessage, now: number): void;
  /** Called every few hundred ms: the interceptor's own tick. */
  tick(now: number): void;
  /** A server joins (`true`) or is not there yet; every server is there at first. */
  setPresent(server: number, present: boolean, now: number): void;
}

/** How a proxy chooses, after HAProxy's and NGINX's own rules. */
export type ProxyRule =
  /** HAProxy leastconn: the fewest outstanding requests per weight, (n + 1) / w. */
  | 'leastconn'
  /** NGINX least_conn: n / w, ties by weighted round robin (here: at random). */
  | 'least_conn'
  /** Smooth weighted round robin (HAProxy roundrobin, NGINX's default). */
  | 'roundrobin';

export interface ProxyOptions {
  rule: ProxyRule;
  weights: readonly number[];
  /** Per-server limit on outstanding requests; the rest wait in the proxy's one queue (HAProxy maxconn). */
  maxconn?: readonly number[];
  /** A redirecting door (HAProxy `redir`): it never sees a request finish. */
  redirect?: boolean;
}

export class ProxyDoor implements Door {
  readonly kind: 'proxy' | 'redirect';
  private readonly outstanding: number[];
  private readonly current: number[];
  private readonly absent = new Set<number>();
  private readonly held: Routed[] = [];
  private heldHead = 0;

  constructor(
    private readonly o: ProxyOptions,
    private readonly random: Random,
  ) {
    this.kind = o.redirect ? 'redirect' : 'proxy';
    this.outstanding = o.weights.map(() => 0);
    this.current = o.weights.map(() => 0);
  }

  route(_now: number, r: Routed): void {
    const i = this.choose(r.exclude);
    if (i < 0 && this.o.maxconn && r.exclude === undefined) {
      this.held.push(r);
      return;
    }
    this.send(i, r);
  }

  finished(server: number, now: number): void {
    if (this.kind === 'redirect') return;
    this.outstanding[server]!--;
    // HAProxy hands a freed slot to the oldest request in its queue.
    while (this.heldHead < this.held.length) {
      const r = this.held[this.heldHead++]!;
      if (r.deadline <= now) {
        r.go(-1);
        continue;
      }
      this.send(server, r);
      break;
    }
  }

  load(): void {}
  tick(): void {}

  setPresent(server: number, present: boolean): void {
    if (present) this.absent.delete(server);
    else this.absent.add(server);
  }

  private send(i: number, r: Routed): void {
    if (i >= 0 && this.kind === 'proxy') this.outstanding[i]!++;
    r.go(i);
  }

  private choose(exclude: number | undefined): number {
    const { weights, maxconn, rule } = this.o;
    if (rule === 'roundrobin') {
      let total = 0;
      let best = -1;
      for (let i = 0; i < weights.length; i++) {
        if (i === exclude || this.absent.has(i) || (maxconn && this.outstanding[i]! >= maxconn[i]!)) continue;
        this.current[i]! += weights[i]!;
        total += weights[i]!;
        if (best < 0 || this.current[i]! > this.current[best]!) best = i;
      }
      if (best >= 0) this.current[best]! -= total;
      return best;
    }
    const plusOne = rule === 'leastconn' ? 1 : 0;
    let best = -1;
    let bestKey = Infinity;
    let ties = 0;
    for (let i = 0; i < weights.length; i++) {
      if (i === exclude || this.absent.has(i) || (maxconn && this.outstanding[i]! >= maxconn[i]!)) continue;
      const key = (this.outstanding[i]! + plusOne) / weights[i]!;
      if (key < bestKey) {
        bestKey = key;
        best = i;
        ties = 1;
      } else if (key === bestKey && this.random() * ++ties < 1) best = i;
    }
    return best;
  }
}

/**
 * A door built on Switchyard's real site state (the lab site's one application), with the
 * scenario's server indexes mapped to the application's and back.
 */
abstract class SiteDoor {
  protected readonly state: SiteState;
  protected readonly app: AppState;
  protected readonly toSim: number[];
  protected readonly fromSim: number[];

  constructor(
    loaded: LoadedSite,
    serverNames: readonly string[],
    protected readonly random: Random,
    now: number,
  ) {
    this.state = new SiteState(loaded.site, loaded.addresses, new Map(), emptyOverrides(), undefined, now);
    this.app = this.state.apps[0]!;
    this.toSim = this.app.servers.map((s) => serverNames.indexOf(s.name));
    this.fromSim = serverNames.map((n) => this.app.serverIndex.get(n) ?? -1);
  }

  /** The manager's push (Switchyard's dynamic mode). */
  load(msg: LoadMessage, now: number): void {
    this.state.applyLoad(msg.servers, msg.swamped, now, msg.doors);
  }

  /** The interceptor's own tick: the manager's word ages. */
  tick(now: number): void {
    this.state.refreshManaged(now);
  }

  /** As the interceptor's own health checks would see it (their rise time left out). */
  setPresent(server: number, present: boolean, now: number): void {
    const i = this.fromSim[server]!;
    if (i < 0) return;
    const srv = this.state.servers.get(this.app.servers[i]!.name)!;
    srv.health = { up: present, streak: 0 };
    this.state.updateAvailability(srv, now);
  }
}

/**
 * A Switchyard interceptor: the real site state and the real decision (`decideForApp`), fed
 * by the same load messages the manager sends. Server indexes are the scenario's order.
 */
export class SwitchyardDoor extends SiteDoor implements Door {
  readonly kind = 'redirect' as const;
  private readonly target = parseTarget('/lab', 'lab.example')!;
  private readonly facts = { method: 'GET', url: '/lab', host: 'lab.example', secure: false };

  route(now: number, r: Routed): void {
    const exclude = r.exclude === undefined ? undefined : this.fromSim[r.exclude];
    const d = decideForApp(this.app, this.target, this.facts, now, this.random, exclude);
    r.go(d.kind === 'redirect' ? this.toSim[d.server]! : -1);
  }

  finished(): void {}
}

/**
 * Switchyard's gateway (issue 30): the real site state, the real choice (`pickServer`: the
 * application's policy, its limits from the servers' slots less what others hold there, its
 * outlier watch) and an admission queue, fed by the manager's load messages. It sees its own
 * requests finish; a request over every limit waits, first come first served, for the first
 * place to free (its own request ending, or figures showing another door's did).
 */
export class GatewayDoor extends SiteDoor implements Door {
  readonly kind = 'proxy' as const;
  private readonly g: AppGateway;
  private readonly sides = new SimSides();
  private readonly held: Routed[] = [];
  private heldHead = 0;
  /** Waiters already answered (their clients gave up) but not yet out of `held`. */
  private readonly gone = new Set<Routed>();

  constructor(loaded: LoadedSite, serverNames: readonly string[], random: Random, now: number) {
    super(loaded, serverNames, random, now);
    this.g = appGatewayFor(this.app, undefined, proxySettings(this.app.config.proxy), () => now);
  }

  route(now: number, r: Routed): void {
    if (this.heldHead < this.held.length) {
      // Others wait already: first come, first served.
      this.held.push(r);
      return;
    }
    const tried = new Set<number>();
    if (r.exclude !== undefined && this.fromSim[r.exclude]! >= 0) tried.add(this.fromSim[r.exclude]!);
    const i = pickServer(this.app, this.g, this.sides, tried, true, now, this.random, () => '');
    if (i === FULL) {
      this.held.push(r);
      return;
    }
    this.send(i, r, now);
  }

  finished(server: number, now: number): void {
    const i = this.fromSim[server]!;
    ended(this.sides.get(this.app.servers[i]!.name), now);
    this.release(i, now);
  }

  override load(msg: LoadMessage, now: number): void {
    super.load(msg, now);
    for (let i = 0; i < this.app.servers.length; i++) this.release(i, now);
  }

  override tick(now: number): void {
    super.tick(now);
    for (let i = 0; i < this.app.servers.length; i++) this.release(i, now);
    // Waiters whose clients gave up leave (the gateway's own time-out is longer than theirs).
    for (let k = this.heldHead; k < this.held.length; k++) {
      const r = this.held[k]!;
      if (r.deadline <= now && !this.gone.has(r)) {
        this.gone.add(r);
        r.go(-1);
      }
    }
  }

  private send(i: number, r: Routed, now: number): void {
    if (i < 0) {
      r.go(-1);
      return;
    }
    sent(this.sides.get(this.app.servers[i]!.name), now);
    r.go(this.toSim[i]!);
  }

  /** Places free at server i go to the oldest waiting requests. */
  private release(i: number, now: number): void {
    const side = this.sides.get(this.app.servers[i]!.name);
    while (this.heldHead < this.held.length) {
      if (!this.app.pool.isAvailable(i)) return;
      if (side.inFlight >= limitNow(this.g, i, side, now)) return;
      const r = this.held[this.heldHead++]!;
      if (this.gone.delete(r)) continue;
      if (r.deadline <= now) {
        r.go(-1);
        continue;
      }
      this.send(i, r, now);
    }
    if (this.heldHead > 1024 && this.heldHead * 2 > this.held.length) {
      this.held.splice(0, this.heldHead);
      this.heldHead = 0;
    }
  }
}

/** The gateway's per-server state in the simulator: no connections, only the counts. */
class SimSides implements ServerSides {
  private readonly byName = new Map<string, ServerSide>();

  get(name: string): ServerSide {
    let s = this.byName.get(name);
    if (!s) {
      s = newServerSide(name);
      this.byName.set(name, s);
    }
    return s;
  }

  peek(name: string): ServerSide | undefined {
    return this.byName.get(name);
  }
}
