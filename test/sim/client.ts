/**
 * The simulated client: INC proposals to whoever looks like the leader, with a bounded number
 * in flight. It records what a real client would see: invoke, then ok/fail, or unknown when
 * no answer came in time (the proposer crashed, lost track, or the cluster stalled).
 */
import type { IncOp, ReadOp } from './history.ts';
import type { Rng } from './rng.ts';
import type { SimNode } from './sim-node.ts';
import { encodeInc } from './state-machine.ts';

export const KEYS: readonly string[] = ['a', 'b'];

interface Pending {
  readonly op: IncOp;
  readonly deadline: number;
  /** The proposer lost its ticket; only the timeout will tell the client. */
  lost: boolean;
}

export class Client {
  readonly ops: IncOp[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  readonly reads: ReadOp[] = [];
  private readonly pendingReads = new Map<number, { readonly key: string; readonly invokeAt: number; readonly deadline: number }>();
  readStats = { ok: 0, refused: 0, timeout: 0 };
  stats = { ok: 0, fail: 0, unknown: 0 };

  constructor(
    private readonly rng: Rng,
    private readonly trace: (line: string) => void,
    /** Ops in flight at once. */
    private readonly inFlightMax = 6,
    /** Virtual ms before an unanswered op is recorded unknown. */
    readonly timeoutMs = 600,
  ) {}

  inFlight(): number {
    return this.pending.size;
  }

  /** Invokes one INC on `target` if the in-flight bound allows; returns the op or null. */
  invoke(now: number, target: SimNode, key = this.rng.pick(KEYS), force = false): IncOp | null {
    if (this.pending.size >= this.inFlightMax && !force) return null;
    const op: IncOp = { id: this.nextId++, key, invokeAt: now, completeAt: null, outcome: 'pending' };
    this.ops.push(op);
    const r = target.propose(op.id, encodeInc(key, op.id));
    if (!r.ok) {
      this.finish(op, now, 'fail');
      this.trace(`client op${op.id} INC ${key} -> ${target.id}: refused ${r.code}`);
      return op;
    }
    this.pending.set(op.id, { op, deadline: now + this.timeoutMs, lost: false });
    this.trace(`client op${op.id} INC ${key} -> ${target.id} at index ${r.index}`);
    return op;
  }

  /** Starts a linearizable read of `key` on `target` (ReadIndex). */
  read(now: number, target: SimNode, key = this.rng.pick(KEYS)): void {
    if (this.pendingReads.size >= this.inFlightMax) return;
    const id = this.nextId++;
    // Registered first: a read may be answered within the call (already applied).
    this.pendingReads.set(id, { key, invokeAt: now, deadline: now + this.timeoutMs });
    this.trace(`client read r${id} ${key} -> ${target.id}`);
    const refused = target.read(id, key);
    if (refused !== null) {
      this.pendingReads.delete(id);
      this.readStats.refused++;
      this.trace(`client read r${id} refused ${refused}`);
    }
  }

  readDone(now: number, id: number, value: number): void {
    const p = this.pendingReads.get(id);
    if (!p) return;
    this.pendingReads.delete(id);
    this.readStats.ok++;
    this.reads.push({ id, key: p.key, invokeAt: p.invokeAt, completeAt: now, value });
  }

  resolve(now: number, opId: number, outcome: 'ok' | 'fail', value?: number): void {
    const p = this.pending.get(opId);
    if (!p) return; // already timed out: the client recorded unknown and moved on
    this.pending.delete(opId);
    if (value !== undefined) p.op.value = value;
    this.finish(p.op, now, outcome);
    this.trace(`client op${opId} ${outcome}${value !== undefined ? ` value=${value}` : ''}`);
  }

  lose(opId: number): void {
    const p = this.pending.get(opId);
    if (p) p.lost = true;
  }

  /**
   * Records unknown for ops past their deadline. In the final phase (`finalPhase`) only ops
   * whose proposer lost them expire: the others must be answered (a liveness check).
   */
  expire(now: number, finalPhase = false): void {
    for (const [id, p] of this.pendingReads) {
      if (now < p.deadline && !finalPhase) continue;
      // A read without an answer says nothing about the state; it is simply dropped.
      this.pendingReads.delete(id);
      this.readStats.timeout++;
    }
    for (const [id, p] of this.pending) {
      if (finalPhase ? !p.lost : now < p.deadline) continue;
      this.pending.delete(id);
      this.finish(p.op, now, 'unknown');
      this.trace(`client op${id} unknown (${p.lost ? 'proposer lost it' : 'timeout'})`);
    }
  }

  /** Ops still waiting for an answer from a live proposer. */
  waiting(): number[] {
    return [...this.pending.values()].filter((p) => !p.lost).map((p) => p.op.id);
  }

  private finish(op: IncOp, now: number, outcome: 'ok' | 'fail' | 'unknown'): void {
    op.outcome = outcome;
    op.completeAt = now;
    this.stats[outcome]++;
  }
}
