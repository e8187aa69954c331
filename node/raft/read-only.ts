import type { NodeId } from './types.ts';

interface PendingRead {
  readonly index: number;
  readonly context: string;
  readonly acks: Set<NodeId>;
}

/**
 * ReadIndex requests waiting for a heartbeat quorum (§6.4). A quorum acknowledging a later
 * request also confirms every earlier one, so they are released in queue order.
 */
export class ReadOnly {
  private readonly pending = new Map<string, PendingRead>();
  private queue: string[] = [];

  has(context: string): boolean {
    return this.pending.has(context);
  }

  add(index: number, context: string, self: NodeId): void {
    if (this.pending.has(context)) return;
    this.pending.set(context, { index, context, acks: new Set([self]) });
    this.queue.push(context);
  }

  /** Records an ack; returns the acks so far, or undefined for an unknown context. */
  ack(context: string, from: NodeId): ReadonlySet<NodeId> | undefined {
    const p = this.pending.get(context);
    if (p === undefined) return undefined;
    p.acks.add(from);
    return p.acks;
  }

  /** Removes and returns every request up to and including `context`. */
  release(context: string): { index: number; context: string }[] {
    const at = this.queue.indexOf(context);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    return done.map((c) => {
      const p = this.pending.get(c)!;
      this.pending.delete(c);
      return { index: p.index, context: p.context };
    });
  }

  size(): number {
    return this.queue.length;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}
