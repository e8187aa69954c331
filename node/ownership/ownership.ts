/**
 * The fence: a shard of a sharded cluster applies a data command only if it owns the bucket's
 * slot, decided from its own committed state in the same transaction that would apply it. A
 * stale router can therefore send a bucket to the wrong shard, but never get it served there.
 *
 * Sharded mode is itself committed state (OWN.mode, written at shard bootstrap), not a process
 * flag: every replica, and every restart with whatever flags, agrees on it. State without the
 * mode record (`seqdb dev`, a standalone replicated shard) owns every bucket.
 */
import { ErrorCode } from '../../shared/errors.ts';
import { slotOf } from '../../shared/placement/slot.ts';
import { errorResult, type CommandResult } from '../state-machine/command.ts';
import type { KvReader, KvTxn } from '../state-machine/kv.ts';
import { OWN, readU64, u64 } from './keys.ts';
import { hasSlot, SlotSet } from './slot-set.ts';
import { isFrozen } from './move-shard.ts';

/** The shard this state belongs to, if it is part of a sharded cluster; null otherwise. */
export function shardedAs(kv: KvReader): string | null {
  const bytes = kv.get(OWN.mode);
  return bytes === undefined ? null : bytes.toString('latin1');
}

/** Marks this state as shard `shard` of a sharded cluster. Write it once, at bootstrap. */
export function markSharded(txn: KvTxn, shard: string): void {
  const current = shardedAs(txn);
  if (current !== null && current !== shard) throw new Error(`state already belongs to shard ${current}`);
  txn.put(OWN.mode, Buffer.from(shard, 'latin1'));
}

export interface Ownership {
  readonly shard: string;
  readonly epoch: number;
  readonly slots: SlotSet;
}

export function readOwnership(kv: KvReader): Ownership | null {
  const shard = shardedAs(kv);
  if (shard === null) return null;
  const bits = kv.get(OWN.slots);
  return { shard, epoch: readU64(kv.get(OWN.epoch)), slots: bits === undefined ? new SlotSet() : new SlotSet(bits) };
}

/** Null when this shard may serve `bucket`; else the MOVED/TRYAGAIN result to answer instead. */
export function ownershipRefusal(kv: KvReader, bucket: Uint8Array): CommandResult | null {
  const mode = kv.get(OWN.mode);
  if (mode === undefined) return null;
  const epoch = readU64(kv.get(OWN.epoch));
  const slot = slotOf(bucket);
  if (epoch === 0) {
    return errorResult(ErrorCode.TRY_AGAIN, `shard ${mode.toString('latin1')} has no slot ownership committed yet`);
  }
  const bits = kv.get(OWN.slots);
  if (bits !== undefined && hasSlot(bits, slot)) {
    // A move out of this slot is under way (move-shard.ts): nothing may change or be read here
    // until it is released (then MOVED) or unfrozen. Routers retry TRYAGAIN after a backoff.
    if (isFrozen(kv, slot)) return errorResult(ErrorCode.TRY_AGAIN, `slot ${slot} is moving off shard ${mode.toString('latin1')}`);
    return null;
  }
  return errorResult(ErrorCode.MOVED, `${slot} ? not owned by shard ${mode.toString('latin1')} (epoch ${epoch})`);
}

/**
 * Installs the slots this shard owns, once: the first push of the committed table (at whatever
 * epoch) initializes ownership; after that only slot moves change it (move-shard.ts), so a
 * delayed or repeated push changes nothing (idempotent retries) and cannot undo a move.
 * Returns the epoch in force afterwards.
 */
export function setOwnership(txn: KvTxn, epoch: number, slots: SlotSet): number {
  const current = readU64(txn.get(OWN.epoch));
  if (current > 0) return current;
  txn.put(OWN.slots, Buffer.from(slots.bits));
  txn.put(OWN.epoch, u64(epoch));
  return epoch;
}
