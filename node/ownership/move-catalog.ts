/**
 * The catalog side of slot moves: the committed move record is the resumable state of a
 * rebalance (at most one move at a time), and the slot table changes owner only through it.
 *
 *   MOVEBEGIN from to S  no move in progress, `from` owns S in the table: epoch += 1 = M,
 *                        record {M, from, to, S, state "begun"}
 *   MOVECOMMIT M         begun -> committed: S's owner becomes `to` (epoch += 1)
 *   MOVEABORT M          begun -> aborting (only once `to` committed REJECT M)
 *   MOVEEND M            committed (source released) / aborting (source unfrozen) -> no move
 *   DRAIN shard          the shard leaves the plan (seqdb shard remove); FORGET: it leaves the
 *                        list once it owns nothing, and may never register again
 * All idempotent when repeated with the same arguments (a coordinator that died resumes).
 */
import { ErrorCode } from '../../shared/errors.ts';
import { slotCount } from '../../shared/placement/slot.ts';
import { OK_RESULT, errorResult, type CommandResult } from '../state-machine/command.ts';
import type { KvReader, KvTxn } from '../state-machine/kv.ts';
import { catalogEpoch, CATALOG_SHARD_ID, readShards, slotTable } from './catalog.ts';
import { CAT, u64 } from './keys.ts';
import { SlotSet } from './slot-set.ts';

export type MoveState = 'begun' | 'committed' | 'aborting';

export interface MoveRecord {
  readonly epoch: number;
  readonly from: string;
  readonly to: string;
  readonly slots: SlotSet;
  readonly state: MoveState;
}

export function readMove(kv: KvReader): MoveRecord | null {
  const bytes = kv.get(CAT.move);
  if (bytes === undefined) return null;
  const raw = JSON.parse(bytes.toString('utf8')) as { epoch: number; from: string; to: string; slots: string; state: MoveState };
  return { ...raw, slots: SlotSet.fromBase64(raw.slots)! };
}

function writeMove(txn: KvTxn, move: MoveRecord): void {
  txn.put(CAT.move, Buffer.from(JSON.stringify({ ...move, slots: move.slots.toBase64() })));
}

export function moveToJson(move: MoveRecord | null): unknown {
  return move === null ? null : { epoch: move.epoch, from: move.from, to: move.to, slots: move.slots.toBase64(), state: move.state };
}

function list(kv: KvReader, key: Buffer): string[] {
  const bytes = kv.get(key);
  return bytes === undefined ? [] : (JSON.parse(bytes.toString('utf8')) as string[]);
}

export const readDraining = (kv: KvReader): string[] => list(kv, CAT.draining);
export const readRetired = (kv: KvReader): string[] => list(kv, CAT.retired);

function refused(message: string): CommandResult {
  return errorResult(ErrorCode.MOVE_REFUSED, `move refused: ${message}`);
}

/** The catalog's move state for coordinators: JSON {epoch, move, draining}. */
export function moveStatusJson(kv: KvReader): string {
  return JSON.stringify({ epoch: catalogEpoch(kv), move: moveToJson(readMove(kv)), draining: readDraining(kv) });
}

export function moveBegin(txn: KvTxn, from: string, to: string, slots: SlotSet): CommandResult {
  const current = readMove(txn);
  if (current !== null) {
    const same = current.from === from && current.to === to && Buffer.from(current.slots.bits).equals(Buffer.from(slots.bits));
    if (same) return bulk(JSON.stringify(moveToJson(current)));
    return refused(`the move of epoch ${current.epoch} (${current.from} -> ${current.to}) is in progress`);
  }
  const epoch = catalogEpoch(txn);
  if (epoch === 0) return errorResult(ErrorCode.TRY_AGAIN, 'the slot table is not initialized yet');
  const ids = readShards(txn).map((s) => s.id);
  if (from === to || !ids.includes(from) || !ids.includes(to)) return refused(`bad shards ${from} -> ${to}`);
  if (readDraining(txn).includes(to)) return refused(`shard ${to} is being drained`);
  if (slots.size === 0) return refused('no slots');
  const table = slotTable(txn);
  for (const slot of slots.slots()) if (table[slot] !== from) return refused(`slot ${slot} is owned by ${table[slot]}, not ${from}`);
  const move: MoveRecord = { epoch: epoch + 1, from, to, slots, state: 'begun' };
  txn.put(CAT.epoch, u64(epoch + 1));
  writeMove(txn, move);
  return bulk(JSON.stringify(moveToJson(move)));
}

function currentMove(kv: KvReader, epoch: number): MoveRecord | CommandResult {
  const move = readMove(kv);
  if (move === null || move.epoch !== epoch) return refused(`no move of epoch ${epoch} in progress`);
  return move;
}

export function moveCommit(txn: KvTxn, epoch: number): CommandResult {
  const move = currentMove(txn, epoch);
  if (!('state' in move)) return move;
  if (move.state === 'committed') return OK_RESULT;
  if (move.state !== 'begun') return refused(`the move of epoch ${epoch} is aborting`);
  const ids = JSON.parse(txn.get(CAT.ownerIds)!.toString('utf8')) as string[];
  if (!ids.includes(move.to)) {
    ids.push(move.to);
    txn.put(CAT.ownerIds, Buffer.from(JSON.stringify(ids)));
  }
  const owners = Buffer.from(txn.get(CAT.owners)!);
  const index = ids.indexOf(move.to);
  for (const slot of move.slots.slots()) owners.writeUInt16BE(index, slot * 2);
  txn.put(CAT.owners, owners);
  txn.put(CAT.epoch, u64(catalogEpoch(txn) + 1));
  writeMove(txn, { ...move, state: 'committed' });
  return OK_RESULT;
}

export function moveAbort(txn: KvTxn, epoch: number): CommandResult {
  const move = currentMove(txn, epoch);
  if (!('state' in move)) return move;
  if (move.state === 'committed') return refused(`the move of epoch ${epoch} is committed: finish it`);
  if (move.state === 'begun') writeMove(txn, { ...move, state: 'aborting' });
  return OK_RESULT;
}

export function moveEnd(txn: KvTxn, epoch: number): CommandResult {
  const move = readMove(txn);
  if (move === null) return OK_RESULT;
  if (move.epoch !== epoch) return refused(`the move in progress has epoch ${move.epoch}, not ${epoch}`);
  if (move.state === 'begun') return refused(`the move of epoch ${epoch} is neither committed nor aborting`);
  txn.remove(CAT.move);
  return OK_RESULT;
}

export function drainShard(txn: KvTxn, shard: string): CommandResult {
  const ids = readShards(txn).map((s) => s.id);
  if (!ids.includes(shard)) return refused(`shard ${shard} is not registered`);
  if (shard === CATALOG_SHARD_ID) return refused(`shard ${CATALOG_SHARD_ID} holds the catalog and cannot be removed`);
  const draining = readDraining(txn);
  if (draining.includes(shard)) return OK_RESULT;
  if (ids.filter((id) => !draining.includes(id) && id !== shard).length === 0) return refused('cannot drain the last shard');
  txn.put(CAT.draining, Buffer.from(JSON.stringify([...draining, shard].sort())));
  return OK_RESULT;
}

export function forgetShard(txn: KvTxn, shard: string): CommandResult {
  const shards = readShards(txn);
  if (!shards.some((s) => s.id === shard)) return readRetired(txn).includes(shard) ? OK_RESULT : refused(`shard ${shard} is not registered`);
  if (!readDraining(txn).includes(shard)) return refused(`shard ${shard} is not draining`);
  const move = readMove(txn);
  if (move !== null && (move.from === shard || move.to === shard)) return refused(`shard ${shard} takes part in the move in progress`);
  const table = slotTable(txn);
  for (let slot = 0; slot < slotCount; slot++) if (table[slot] === shard) return refused(`shard ${shard} still owns slot ${slot}`);
  txn.put(CAT.shards, Buffer.from(JSON.stringify(shards.filter((s) => s.id !== shard))));
  txn.put(CAT.draining, Buffer.from(JSON.stringify(readDraining(txn).filter((id) => id !== shard))));
  txn.put(CAT.retired, Buffer.from(JSON.stringify([...readRetired(txn), shard].sort())));
  txn.put(CAT.epoch, u64(catalogEpoch(txn) + 1));
  return OK_RESULT;
}

function bulk(text: string): CommandResult {
  return { type: 'bulk', value: Buffer.from(text) };
}
