/**
 * The plan: where each slot *should* live, given the committed list of shard IDs. A ketama ring
 * (`hashring`) over shard IDs, never over addresses, so the plan changes only when the committed
 * list does, and adding the N-th shard moves only about 1/N of the slots. Where slots actually
 * live is the committed slot table; this only says where a rebalance should take them.
 */
import { hash } from 'node:crypto';
import HashRing from 'hashring';
import { slotCount } from './slot.ts';

/**
 * One entry per slot: the shard ID that the ring assigns it to; what `ring.get('slot:N')` gives.
 * Not through `get`: every node applies this when the catalog starts and every router computes
 * it, and 16,384 `get`s (an md5 object and an LRU entry each) cost ~100-200 ms of a process's
 * start. The slots' ketama values are computed once per process and a lone shard takes every
 * slot without a ring; test/placement/placement.test.ts holds it equal to `get`.
 */
export function planSlots(shardIds: readonly string[]): string[] {
  if (shardIds.length === 0) throw new RangeError('planSlots needs at least one shard');
  const unique = [...new Set(shardIds)].sort();
  if (unique.length === 1) return new Array<string>(slotCount).fill(unique[0]!);
  const ring = new HashRing(unique, 'md5');
  const values = slotHashValues();
  const plan = new Array<string>(slotCount);
  for (let slot = 0; slot < slotCount; slot++) plan[slot] = ring.ring[ring.find(values[slot]!)]!.server;
  return plan;
}

let slotValues: Uint32Array | null = null;

/**
 * hashring's ketama value of `slot:N`: the md5 digest's first four bytes, little-endian. Read from
 * the hex digest: a Buffer digest per slot costs ~4x as much here.
 */
function slotHashValues(): Uint32Array {
  if (slotValues !== null) return slotValues;
  const values = new Uint32Array(slotCount);
  for (let slot = 0; slot < slotCount; slot++) {
    const hex = hash('md5', `slot:${slot}`, 'hex');
    values[slot] = Number.parseInt(hex.slice(6, 8) + hex.slice(4, 6) + hex.slice(2, 4) + hex.slice(0, 2), 16);
  }
  slotValues = values;
  return values;
}

/** Slots whose owner differs between two tables: what a rebalance must move. */
export function slotsToMove(current: readonly (string | null)[], target: readonly string[]): number[] {
  const moves: number[] = [];
  for (let slot = 0; slot < slotCount; slot++) if (current[slot] !== target[slot]) moves.push(slot);
  return moves;
}
