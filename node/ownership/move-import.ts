/**
 * Chunked imports: a slot move's data in pages, for moves too big for one CLUSTER IMPORT (a busy
 * bucket's exactly-once tokens alone exceed one request within minutes).
 *
 *   source A  EXPORTPAGE M S cursor   S frozen at M: the page of S's data after `cursor`
 *   target B  IMPORTPART M S k cursor d   slot epochs < M: stage part k (read after `cursor`)
 *             IMPORTSTATUS M S        [imported 0/1, parts staged, cursor after them, entries]
 *             IMPORTDONE M S n count  parts 0..n-1 staged, `count` entries in all: installs them
 *                                     and owns S (slot epoch M), in one apply step
 *
 * Staging does not make B an owner and does not raise slot epochs, so the guards of move-shard.ts
 * hold unchanged: B owns S only from IMPORTDONE M, which never applies after REJECT M (REJECT
 * raises the epochs and drops the staged parts). A repeated part replaces itself; a part that
 * does not continue the staged chain is refused (IMPORT_ORDER text) and the coordinator resumes
 * from IMPORTSTATUS, so the parts installed are always one gapless pass over the frozen data.
 */
import { ErrorCode } from '../../shared/errors.ts';
import { errorResult, intResult, type CommandResult } from '../state-machine/command.ts';
import type { KvReader, KvTxn } from '../state-machine/kv.ts';
import { clearStaging, readPart, stagedParts, writePart } from './import-staging.ts';
import { adoptSlots, exportFrozenCheck, importableSlots } from './move-shard.ts';
import { checkSlotData, deleteSlotData, exportSlotPage, installSlotData, slotDataSummary } from './slot-data.ts';
import { SlotSet } from './slot-set.ts';

/** Text of the refusal of a part that does not continue the staged chain. */
export const IMPORT_ORDER_TEXT = 'import part out of order';
/** Most parts of one chunked import (a 40 KiB page each: about 2.5 GiB). */
export const IMPORT_PARTS_MAX = 65_536;

/** EXPORTPAGE: [data, entries, cursor after the page, done 0/1]. */
export function exportPage(kv: KvReader, epoch: number, slots: SlotSet, after: Buffer, bytesMax?: number): CommandResult {
  const why = exportFrozenCheck(kv, epoch, slots);
  if (why !== null) return why;
  const page = exportSlotPage(kv, slots, after, bytesMax);
  return { type: 'array', value: [page.data, BigInt(page.count), page.last, page.done ? 1n : 0n] };
}

/** IMPORTPART: stages one page; answers the page's entry count (0 when S is already imported). */
export function importPart(txn: KvTxn, epoch: number, slots: SlotSet, part: number, after: Buffer, data: Buffer): CommandResult {
  const fresh = importableSlots(txn, epoch, slots);
  if (!Array.isArray(fresh)) return fresh;
  if (fresh.length === 0) return intResult(0n);
  if (part >= IMPORT_PARTS_MAX) return errorResult(ErrorCode.SYNTAX, `more than ${IMPORT_PARTS_MAX} import parts`);
  const bad = checkSlotData(data, slots);
  if (bad !== null) return errorResult(ErrorCode.SYNTAX, `bad slot data: ${bad}`);
  const previous = part === 0 ? null : readPart(txn, epoch, part - 1);
  const continues = part === 0 ? after.length === 0 : previous !== undefined && previous!.last.equals(after);
  if (!continues) return errorResult(ErrorCode.SYNTAX, `${IMPORT_ORDER_TEXT}: part ${part} does not continue the ${stagedParts(txn, epoch)} staged parts`);
  const { count, last } = slotDataSummary(data);
  if (last !== null && after.length > 0 && Buffer.compare(last, after) <= 0) return errorResult(ErrorCode.SYNTAX, 'bad slot data: page does not follow its cursor');
  writePart(txn, epoch, part, { after, last: last ?? after, count, data });
  return intResult(BigInt(count));
}

/** IMPORTSTATUS: [imported 0/1, parts staged, cursor after the last staged part, entries staged]. */
export function importStatus(kv: KvReader, epoch: number, slots: SlotSet): CommandResult {
  const fresh = importableSlots(kv, epoch, slots);
  if (!Array.isArray(fresh)) return fresh;
  const parts = stagedParts(kv, epoch);
  let count = 0;
  let cursor: Buffer = Buffer.alloc(0);
  for (let k = 0; k < parts; k++) {
    const staged = readPart(kv, epoch, k)!;
    count += staged.count;
    cursor = staged.last;
  }
  return { type: 'array', value: [fresh.length === 0 ? 1n : 0n, BigInt(parts), cursor, BigInt(count)] };
}

/**
 * IMPORTDONE: installs parts 0..n-1 (exactly those, `count` entries) and takes S, atomically.
 * Parts are read one at a time, twice (counted, then installed), so the apply step holds one
 * ~55 KiB part, not the whole move: a move may stage up to IMPORT_PARTS_MAX parts (2.5 GiB).
 */
export function importDone(txn: KvTxn, epoch: number, slots: SlotSet, parts: number, count: number): CommandResult {
  const fresh = importableSlots(txn, epoch, slots);
  if (!Array.isArray(fresh)) return fresh;
  if (fresh.length === 0) return intResult(0n);
  const staged = stagedParts(txn, epoch);
  if (staged !== parts) return errorResult(ErrorCode.SYNTAX, `${IMPORT_ORDER_TEXT}: ${staged} parts staged, not ${parts}`);
  let total = 0;
  for (let k = 0; k < parts; k++) total += readPart(txn, epoch, k)!.count;
  if (total !== count) return errorResult(ErrorCode.SYNTAX, `${IMPORT_ORDER_TEXT}: ${total} entries staged, not ${count}`);
  const set = SlotSet.of(fresh);
  deleteSlotData(txn, set);
  for (let k = 0; k < parts; k++) installSlotData(txn, set, readPart(txn, epoch, k)!.data);
  adoptSlots(txn, epoch, fresh);
  clearStaging(txn, epoch);
  return intResult(BigInt(fresh.length));
}
