import type { ManagerConfig } from '../config/monitoring-schema.js';
import { managerLinkUrl } from '../config/monitoring-schema.js';
import { LinkClient } from '../link/link-client.js';
import type { Logger } from '../log/logger.js';
import type { Message, MessageOf, OverrideChange } from '../protocol/messages.js';
import { operatorProof } from '../protocol/operator-proof.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';

/**
 * The interceptor's link to the manager: load values and levels come in every report
 * interval; the operator's overrides come in whole whenever they change. An operator change
 * made at this interceptor's admin endpoint goes to the manager, which keeps it and sends it
 * to every interceptor; changes made while the manager is away are kept here and sent once
 * it is back. Without the link the interceptor goes on with what it last had, fading to
 * static capacities over T.
 *
 * @example
 * const ml = new ManagerLink({ manager, id: 'ic-1', secret, log, onLoad, onOverrides });
 * ml.start();
 * ml.change({ target: 'server', name: 'web-a', enabled: false });
 */

/** An operator's change as the interceptor's admin endpoint took it. */
export type OperatorChange = Omit<OverrideChange, 'v' | 'type' | 'age' | 'made' | 'proof'>;

export interface ManagerLinkOptions {
  manager: ManagerConfig;
  id: string;
  /** The interceptor key (D52): links this interceptor, authorizes nothing else. */
  key: string;
  /** For a wss:// link: the CA the manager's certificate must chain to (D53). */
  ca: string | undefined;
  /** The admin token, whose proof an operator change carries; undefined: none is relayed. */
  operatorToken(): string | undefined;
  log: Logger;
  onLoad(m: MessageOf<'load'>): void;
  onOverrides(m: MessageOf<'overrides'>): void;
}

export class ManagerLink {
  private readonly link: LinkClient;
  /** Changes made while the manager was away, oldest first, with when they were made (monotonic ms). */
  private unsent: Array<{ change: OperatorChange; madeAt: number; made: number }> = [];
  /** The manager's overrides have arrived since the last connect. */
  private synced = false;

  constructor(private readonly o: ManagerLinkOptions) {
    this.link = new LinkClient({
      url: managerLinkUrl(o.manager),
      role: 'interceptor',
      id: o.id,
      key: o.key,
      ca: o.ca,
      log: o.log,
      heartbeat: o.manager.heartbeat,
      onWelcome: () => {
        this.synced = false;
        const held = this.unsent;
        this.unsent = [];
        for (const c of held) this.change(c.change, c.madeAt, c.made);
      },
      onMessage: (m: Message) => this.onMessage(m),
      onDown: () => {
        this.synced = false;
      },
    });
  }

  get connected(): boolean {
    return this.link.connected;
  }

  /** The overrides in force come from the manager (true), or from this interceptor alone. */
  get managed(): boolean {
    return this.link.connected && this.synced;
  }

  start(): void {
    this.link.start();
  }

  close(): Promise<void> {
    return this.link.close();
  }

  /**
   * Passes an operator change on, with the operator's proof; kept for later while the manager
   * is away. It carries its age, so the manager lets a newer change made elsewhere stand (D46).
   */
  change(c: OperatorChange, madeAt = performance.now(), made = Date.now()): void {
    const token = this.o.operatorToken();
    if (token === undefined) return;
    const age = Math.max(0, Math.round(performance.now() - madeAt));
    const msg: OverrideChange = {
      v: PROTOCOL_VERSION,
      type: 'override',
      ...c,
      age,
      made,
      proof: operatorProof(token, c, made),
    };
    if (!this.link.send(msg)) {
      // A reset makes every earlier change moot.
      if (c.target === 'all') this.unsent = [];
      this.unsent.push({ change: c, madeAt, made });
    }
  }

  /** The gateway's admission queues, for the manager's view; dropped while it is away. */
  gatewayFigures(applications: MessageOf<'gateway'>['applications']): void {
    this.link.send({ v: PROTOCOL_VERSION, type: 'gateway', applications });
  }

  private onMessage(m: Message): void {
    if (m.type === 'load') this.o.onLoad(m);
    else if (m.type === 'overrides') {
      this.synced = true;
      this.o.onOverrides(m);
    } else this.o.log.warn({ type: m.type }, `unexpected message "${m.type}" from the manager ignored`);
  }
}
