/**
 * The plan: where each slot *should* live, given the committed list of shard IDs. A ketama ring
 * (`hashring`) over shard IDs, never over addresses, so the plan changes only when the committed
 * list does, and adding the N-th shard moves only about 1/N of the slots. Where slots actually
 * live is the committed slot table; this only says where a rebalance should take them.
 */
import HashRing from 'hashring';
import { slotCount } from './slot.ts';

/** One entry per slot: the shard ID that the ring assigns it to. */
export function planSlots(shardIds: readonly string[]): string[] {
  if (shardIds.length === 0) throw new RangeError('planSlots needs at least one shard');
  const unique = [...new Set(shardIds)].sort();
  const ring = new HashRing(unique, 'md5', { 'max cache size': 16 });
  const plan = new Array<string>(slotCount);
  for (let slot = 0; slot < slotCount; slot++) plan[slot] = ring.get(`slot:${slot}`);
  return plan;
}

/** Slots whose owner differs between two tables: what a rebalance must move. */
export function slotsToMove(current: readonly (string | null)[], target: readonly string[]): number[] {
  const moves: number[] = [];
  for (let slot = 0; slot < slotCount; slot++) if (current[slot] !== target[slot]) moves.push(slot);
  return moves;
}
