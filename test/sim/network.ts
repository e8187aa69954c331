/**
 * Simulated network: every message gets a delivery time; it may be dropped, duplicated or held
 * back (which reorders it). Partitions block directed links and are checked at delivery, so a
 * partition also eats what was in flight.
 */
import type { Message, NodeId } from '../../node/raft/types.ts';
import type { Rng } from './rng.ts';

export interface LinkFaults {
  /** Probability a message is lost. */
  dropP: number;
  /** Probability a message is delivered twice. */
  dupP: number;
  /** Probability a message is held back far longer than usual (reordering it). */
  slowP: number;
}

export const CALM: LinkFaults = { dropP: 0, dupP: 0, slowP: 0 };

interface InFlight {
  readonly at: number;
  readonly seq: number;
  readonly msg: Message;
}

/** Messages in flight at once; beyond it new ones are dropped (a full socket buffer). */
const IN_FLIGHT_MAX = 20_000;

export class Network {
  private readonly heap: InFlight[] = [];
  private seq = 0;
  private readonly blocked = new Set<string>();
  faults: LinkFaults = CALM;
  /** extra 'stale': probability a message is held for seconds. */
  staleP = 0;
  latencyMsMin = 1;
  latencyMsMax = 8;
  sent = 0;
  dropped = 0;

  constructor(private readonly rng: Rng) {}

  /** Queues m; returns false when it is lost at send time. */
  send(m: Message, now: number): boolean {
    this.sent++;
    if (this.heap.length >= IN_FLIGHT_MAX || this.rng.chance(this.faults.dropP)) {
      this.dropped++;
      return false;
    }
    this.push(m, now + this.delay());
    if (this.rng.chance(this.faults.dupP)) this.push(m, now + this.delay());
    return true;
  }

  private delay(): number {
    const base = this.rng.range(this.latencyMsMin, this.latencyMsMax);
    // extra 'stale': a rare message stuck for seconds (a retransmit queue, a stalled socket
    // buffer on a peer link that was replaced), delivered from an old term.
    if (this.staleP > 0 && this.rng.chance(this.staleP)) return base + this.rng.range(500, 6000);
    return this.rng.chance(this.faults.slowP) ? base + this.rng.range(20, 300) : base;
  }

  /** Re-queues a message for a receiver that is paused until `at` (it arrives then, in order). */
  hold(m: Message, at: number): void {
    this.push(m, at);
  }

  /** The next message due at or before `now`, in (time, send order). */
  pop(now: number): Message | undefined {
    const top = this.heap[0];
    if (!top || top.at > now) return undefined;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return top.msg;
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.size > 0 && this.blocked.has(`${from}>${to}`);
  }

  block(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}>${to}`);
  }

  /** Cuts every link between the two groups, both ways. */
  split(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const x of a) for (const y of b) if (x !== y) (this.block(x, y), this.block(y, x));
  }

  healLinks(): void {
    this.blocked.clear();
  }

  blockedLinks(): string[] {
    return [...this.blocked];
  }

  inFlight(): number {
    return this.heap.length;
  }

  private push(msg: Message, at: number): void {
    this.heap.push({ at, seq: this.seq++, msg });
    let i = this.heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(this.heap[i]!, this.heap[p]!)) break;
      [this.heap[i], this.heap[p]] = [this.heap[p]!, this.heap[i]!];
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && less(this.heap[l]!, this.heap[m]!)) m = l;
      if (r < n && less(this.heap[r]!, this.heap[m]!)) m = r;
      if (m === i) return;
      [this.heap[i], this.heap[m]] = [this.heap[m]!, this.heap[i]!];
      i = m;
    }
  }
}

function less(a: InFlight, b: InFlight): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
