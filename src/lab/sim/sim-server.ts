import type { QueueFigures } from '../../core/load-value.js';
import type { Random } from '../../core/random.js';
import type { Scenario } from '../scenario.js';
import type { EventQueue } from './event-queue.js';

/**
 * One simulated server behind its interface: `slots` requests in service, the rest waiting
 * in one FIFO queue, as the interface keeps it (src/interface/request-queue.ts). A client
 * that gives up is handled as the interface handles it: a waiting request whose client has
 * gone gets its slot and frees it at once, and one in service frees its slot when the client
 * goes. `figures()` gives the same counters the interface reports every interval.
 */

export interface Job {
  /** When the client gives up (simulated ms). */
  deadline: number;
  /** Set by the server when the job reaches it. */
  arrived: number;
  /** The server is done with the job: answered (`ok`) or the client had gone. */
  done(now: number, ok: boolean): void;
}

/** The interface's default bound on waiting requests; one more is refused at once. */
const MAX_WAITING = 1000;

export class SimServer {
  busy = 0;
  private waiting: Job[] = [];
  private head = 0;
  // Counters since the last figures(), as the interface keeps them.
  private waitSum = 0;
  private started = 0;
  private serviceSum = 0;
  private finished = 0;

  constructor(
    private readonly q: EventQueue,
    readonly name: string,
    readonly slots: number,
    /** Service time of a request starting now, ms. */
    private readonly service: (now: number) => number,
  ) {}

  get queueLength(): number {
    return this.waiting.length - this.head;
  }

  arrive(job: Job): void {
    job.arrived = this.q.now;
    if (this.busy < this.slots) this.start(job);
    else if (this.queueLength >= MAX_WAITING) job.done(this.q.now, false);
    else this.waiting.push(job);
  }

  /** The interval's figures; resets the interval counters. */
  figures(): QueueFigures {
    const f: QueueFigures = {
      queueLength: this.queueLength,
      busy: this.busy,
      slots: this.slots,
      queueDelay: this.started > 0 ? this.waitSum / this.started : 0,
      serviceTime: this.finished > 0 ? this.serviceSum / this.finished : 0,
      requests: this.finished,
      errors: 0,
    };
    this.waitSum = this.started = this.serviceSum = this.finished = 0;
    return f;
  }

  private start(job: Job): void {
    const now = this.q.now;
    this.busy++;
    this.started++;
    this.waitSum += now - job.arrived;
    const end = now + this.service(now);
    if (end <= job.deadline) {
      this.q.at(end, () => this.finish(job, end - now, true));
    } else {
      // The client goes first: its slot frees then (at once if it has already gone).
      const gone = Math.max(now, job.deadline);
      this.q.at(gone, () => this.finish(job, gone - now, false));
    }
  }

  private finish(job: Job, serviceTime: number, ok: boolean): void {
    this.busy--;
    this.finished++;
    this.serviceSum += serviceTime;
    // The next waiting request takes the slot before the door hears of the answer: a proxy
    // that sends another at once must find the slot taken, never a slot too many.
    if (this.head < this.waiting.length) {
      const next = this.waiting[this.head++]!;
      // Drop the consumed prefix now and then so the array does not grow for ever.
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      this.start(next);
    }
    job.done(this.q.now, ok);
  }
}

/**
 * Service times for a scenario: its distribution with its mean, times the server's speed
 * factor at `now`, the moment the request starts (ms from the measured run's start).
 */
export function serviceSampler(
  s: Scenario,
  speed: (t: number) => number,
  random: Random,
): (now: number) => number {
  const mean = s.service.mean;
  const d = s.service;
  if (d.distribution === 'fixed') return (now) => mean * speed(now);
  if (d.distribution === 'exponential') return (now) => -Math.log(1 - random()) * mean * speed(now);
  // Lognormal with the given mean: mu = ln(mean) - sigma^2 / 2.
  const mu = Math.log(mean) - (d.sigma * d.sigma) / 2;
  return (now) => Math.exp(mu + d.sigma * normal(random)) * speed(now);
}

/** A standard normal draw (Box-Muller). */
export function normal(random: Random): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}
