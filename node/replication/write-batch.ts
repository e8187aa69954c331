/**
 * INC and SET commands that reach the leader between two turns of its loop wait here and are
 * proposed together as one log entry (node/state-machine/batch-codec.ts) at the start of the next
 * turn. Under load this turns N entries per Ready into one: one log record, one index, one part
 * of an AppendEntries frame, one decode per follower instead of N (issue 9's "group commit
 * across clients" one level up). Each write keeps its own result, in arrival order.
 *
 * Bounded by parts and bytes: a write that does not fit makes the caller flush first.
 */
import { ErrorCode } from '../../shared/errors.ts';
import { errorResult, type CommandResult } from '../state-machine/index.ts';
import { BATCH_BYTES_MAX, BATCH_OVERHEAD_BYTES, BATCH_PARTS_MAX, BATCH_PART_OVERHEAD_BYTES } from '../state-machine/batch-codec.ts';

/** What an applied entry yields: one result, one per part of a batch, or none (conf changes). */
export type EntryResult = CommandResult | readonly CommandResult[] | null;

export interface BatchedWrite {
  /** The command's `encodeCommand` image. */
  readonly bytes: Uint8Array;
  readonly resolve: (r: CommandResult) => void;
}

export class WriteBatch {
  private items: BatchedWrite[] = [];
  private bytes = BATCH_OVERHEAD_BYTES;

  get size(): number {
    return this.items.length;
  }

  /** Whether a write of `length` encoded bytes fits beside those already waiting. */
  fits(length: number): boolean {
    return this.items.length < BATCH_PARTS_MAX && this.bytes + BATCH_PART_OVERHEAD_BYTES + length <= BATCH_BYTES_MAX;
  }

  add(item: BatchedWrite): void {
    this.items.push(item);
    this.bytes += BATCH_PART_OVERHEAD_BYTES + item.bytes.length;
  }

  take(): BatchedWrite[] {
    const items = this.items;
    this.items = [];
    this.bytes = BATCH_OVERHEAD_BYTES;
    return items;
  }
}

/**
 * Hands each write of an entry its result. An entry-level result (NOTLEADER, OUTCOME_UNKNOWN,
 * shutdown) applies to every write in it; a missing one is an internal error, never a silent drop.
 */
export function distribute(items: readonly BatchedWrite[], result: EntryResult): void {
  const parts = Array.isArray(result) ? (result as readonly CommandResult[]) : null;
  items.forEach((item, i) => {
    const r = parts !== null ? parts[i] : (result as CommandResult | null);
    item.resolve(r ?? errorResult(ErrorCode.INTERNAL, 'no result for a write'));
  });
}
