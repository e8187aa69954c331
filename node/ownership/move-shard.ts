/**
 * The shard side of a slot move (../shared/notes/routing.md), applied in each shard's own log.
 * Every step names the move epoch M the catalog allocated, and every slot remembers the newest
 * move epoch this shard committed anything for (its slot epoch). Steps, all idempotent:
 *
 *   source A  FREEZE M S    A owns S: S frozen (data commands answer TRYAGAIN)
 *             EXPORT M S    S frozen at M: S's data, read in this one apply step
 *             RELEASE M S   S frozen at M: A drops S and its data (then answers MOVED)
 *             RELEASEPAGE M S c n   the same in pages: drops S, then its data n entries a step
 *             UNFREEZE M S  S frozen at M: A serves S again (only after B's REJECT M)
 *   target B  IMPORT M S d  slot epochs < M: B installs d and owns S (slot epoch M)
 *             IMPORTPART / IMPORTDONE: the same, in pages staged first (move-import.ts)
 *             REJECT M S    no slot of S imported at M: slot epochs := M, so IMPORT M is refused
 *
 * At most one owner: B serves S only after IMPORT M (or IMPORTDONE M: staged parts serve
 * nothing), which B commits only if it never committed REJECT M; A serves S again only after
 * UNFREEZE, which the coordinator sends only after B committed REJECT M (so IMPORT M can never
 * apply), or RELEASE (RELEASEPAGE), after which A never serves S.
 * REJECT is all-or-nothing over the move's slots, so no move ends split.
 */
import { ErrorCode } from '../../shared/errors.ts';
import { slotCount } from '../../shared/placement/slot.ts';
import { OK_RESULT, errorResult, intResult, type CommandResult } from '../state-machine/command.ts';
import type { KvReader, KvTxn } from '../state-machine/kv.ts';
import { OWN, readU64, slotEpochKey, u64 } from './keys.ts';
import { checkSlotData, deleteSlotData, deleteSlotPage, exportSlotData, importSlotData } from './slot-data.ts';
import { SlotSet } from './slot-set.ts';
import { clearStaging } from './import-staging.ts';

export function slotEpoch(kv: KvReader, slot: number): number {
  return readU64(kv.get(slotEpochKey(slot)));
}

function bitmap(kv: KvReader, key: Buffer): SlotSet {
  const bits = kv.get(key);
  return bits === undefined ? new SlotSet() : new SlotSet(bits);
}

export function ownedSlots(kv: KvReader): SlotSet {
  return bitmap(kv, OWN.slots);
}

export function frozenSlots(kv: KvReader): SlotSet {
  return bitmap(kv, OWN.frozen);
}

function setBits(set: SlotSet, slot: number, on: boolean): void {
  if (on) set.bits[slot >> 3]! |= 1 << (slot & 7);
  else set.bits[slot >> 3]! &= ~(1 << (slot & 7)) & 0xff;
}

function raiseEpochs(txn: KvTxn, epoch: number, slots: Iterable<number>): void {
  for (const slot of slots) if (slotEpoch(txn, slot) < epoch) txn.put(slotEpochKey(slot), u64(epoch));
  if (readU64(txn.get(OWN.epoch)) < epoch) txn.put(OWN.epoch, u64(epoch));
}

function refused(message: string): CommandResult {
  return errorResult(ErrorCode.MOVE_REFUSED, `move refused: ${message}`);
}

function sourceNotTarget(slot: number, epoch: number): string {
  return `slot ${slot} is frozen here by the move of epoch ${epoch}: this shard is its source, not its target`;
}

function list(slots: SlotSet): number[] {
  return [...slots.slots()];
}

/** FREEZE: every slot must be owned here and not frozen by another move. */
export function freezeSlots(txn: KvTxn, epoch: number, slots: SlotSet): CommandResult {
  const owned = ownedSlots(txn);
  const frozen = frozenSlots(txn);
  const todo: number[] = [];
  for (const slot of list(slots)) {
    if (!owned.has(slot)) return refused(`slot ${slot} is not owned by this shard`);
    const seen = slotEpoch(txn, slot);
    if (frozen.has(slot)) {
      if (seen !== epoch) return refused(`slot ${slot} is frozen by the move of epoch ${seen}`);
      continue;
    }
    if (seen >= epoch) return refused(`slot ${slot} already saw move epoch ${seen} >= ${epoch}`);
    todo.push(slot);
  }
  for (const slot of todo) setBits(frozen, slot, true);
  txn.put(OWN.frozen, Buffer.from(frozen.bits));
  raiseEpochs(txn, epoch, todo);
  return OK_RESULT;
}

function frozenAt(kv: KvReader, epoch: number, slots: SlotSet): string | null {
  const frozen = frozenSlots(kv);
  for (const slot of list(slots)) {
    if (!frozen.has(slot) || slotEpoch(kv, slot) !== epoch) return `slot ${slot} is not frozen at epoch ${epoch}`;
  }
  return null;
}

/** The refusal of an export of S at M (S not frozen at M here), or null. */
export function exportFrozenCheck(kv: KvReader, epoch: number, slots: SlotSet): CommandResult | null {
  const why = frozenAt(kv, epoch, slots);
  return why === null ? null : refused(why);
}

/** EXPORT: the frozen slots' data, from this apply step's consistent view. */
export function exportFrozen(kv: KvReader, epoch: number, slots: SlotSet, bytesMax?: number): CommandResult {
  const why = exportFrozenCheck(kv, epoch, slots);
  if (why !== null) return why;
  const data = exportSlotData(kv, slots, bytesMax);
  if (data === null) return errorResult(ErrorCode.REQUEST_TOO_LARGE, `the data of these ${slots.size} slots exceeds one import: move fewer at once`);
  return { type: 'bulk', value: data };
}

/** RELEASE: drop ownership and data. Done again (slot epoch >= M, not owned): no-op. */
export function releaseSlots(txn: KvTxn, epoch: number, slots: SlotSet): CommandResult {
  const todo = releasable(txn, epoch, slots);
  if (!Array.isArray(todo)) return todo;
  deleteSlotData(txn, SlotSet.of(todo));
  dropOwnership(txn, epoch, todo);
  return intResult(BigInt(todo.length));
}

/**
 * RELEASEPAGE M S cursor n: RELEASE in pages. The first page drops ownership of S as RELEASE does
 * (MOVED from then on); every page, the first included, deletes at most n entries of S's data
 * after `cursor`. RELEASE deletes it all in one apply step, ~13 us a token record on every
 * replica while the shard's other writes wait: 1.7 s for the 126,000 entries of 1/16 of the
 * slots of a shard of 1M tokens over 10,000 buckets (bench/slot-move-scan.ts). Leftovers
 * between pages are inert: a slot not owned here is never read or served, and an import of it
 * deletes whatever is left before it installs (slot-data.ts importSlotData, move-import.ts).
 * Again after the last page: deletes nothing, answers done. Answers [slots released by this
 * step, entries deleted, cursor after them, done 0/1].
 */
export function releasePage(txn: KvTxn, epoch: number, slots: SlotSet, after: Buffer, keysMax: number): CommandResult {
  const todo = releasable(txn, epoch, slots);
  if (!Array.isArray(todo)) return todo;
  if (todo.length > 0) dropOwnership(txn, epoch, todo);
  // Every slot of S is now not owned here (released by this step or an earlier one).
  const page = deleteSlotPage(txn, slots, after, keysMax);
  return { type: 'array', value: [BigInt(todo.length), BigInt(page.count), page.last, page.done ? 1n : 0n] };
}

/** The slots of S a release of M takes now (none: done before), or the refusal (not frozen at M). */
function releasable(kv: KvReader, epoch: number, slots: SlotSet): number[] | CommandResult {
  const owned = ownedSlots(kv);
  const frozen = frozenSlots(kv);
  const todo: number[] = [];
  for (const slot of list(slots)) {
    if (!owned.has(slot) && slotEpoch(kv, slot) >= epoch) continue;
    if (!frozen.has(slot) || slotEpoch(kv, slot) !== epoch) return refused(`slot ${slot} is not frozen at epoch ${epoch}`);
    todo.push(slot);
  }
  return todo;
}

function dropOwnership(txn: KvTxn, epoch: number, todo: readonly number[]): void {
  const owned = ownedSlots(txn);
  const frozen = frozenSlots(txn);
  for (const slot of todo) {
    setBits(owned, slot, false);
    setBits(frozen, slot, false);
  }
  txn.put(OWN.slots, Buffer.from(owned.bits));
  txn.put(OWN.frozen, Buffer.from(frozen.bits));
  raiseEpochs(txn, epoch, []);
}

/**
 * UNFREEZE (abort): serve again. Slots not frozen here still get slot epoch M, so a FREEZE M
 * arriving late (from a stale coordinator, after the move was rolled back and ended) is refused
 * instead of freezing them with no move left to finish it.
 */
export function unfreezeSlots(txn: KvTxn, epoch: number, slots: SlotSet): CommandResult {
  const frozen = frozenSlots(txn);
  const idle: number[] = [];
  let n = 0;
  for (const slot of list(slots)) {
    if (frozen.has(slot) && slotEpoch(txn, slot) === epoch) {
      setBits(frozen, slot, false);
      n++;
    } else if (!frozen.has(slot)) {
      idle.push(slot);
    }
  }
  txn.put(OWN.frozen, Buffer.from(frozen.bits));
  raiseEpochs(txn, epoch, idle);
  return intResult(BigInt(n));
}

/**
 * The slots of S an import of epoch M would install: those not yet imported at M; or the refusal
 * when one is owned from elsewhere or already saw an epoch >= M (REJECT M, or a newer move).
 */
export function importableSlots(kv: KvReader, epoch: number, slots: SlotSet): number[] | CommandResult {
  const owned = ownedSlots(kv);
  const frozen = frozenSlots(kv);
  const fresh: number[] = [];
  for (const slot of list(slots)) {
    const seen = slotEpoch(kv, slot);
    // Frozen at M is the source's state, not an import's: a step sent here by mistake (a stale or
    // reused address) must not read "imported", or the move commits to a target holding nothing.
    if (owned.has(slot) && seen === epoch && frozen.has(slot)) return refused(sourceNotTarget(slot, epoch));
    if (owned.has(slot) && seen === epoch) continue;
    if (owned.has(slot)) return refused(`slot ${slot} is already owned here (epoch ${seen})`);
    if (seen >= epoch) return refused(`slot ${slot} already saw move epoch ${seen} >= ${epoch} (rejected or newer)`);
    fresh.push(slot);
  }
  return fresh;
}

/** Takes ownership of imported slots at epoch M (their data is installed by the caller). */
export function adoptSlots(txn: KvTxn, epoch: number, fresh: readonly number[]): void {
  const owned = ownedSlots(txn);
  for (const slot of fresh) setBits(owned, slot, true);
  txn.put(OWN.slots, Buffer.from(owned.bits));
  raiseEpochs(txn, epoch, fresh);
}

/**
 * IMPORT: only over slot epochs older than M (never after REJECT M). Slots this IMPORT M already
 * installed are skipped, data and all: they may have advanced since (a resumed move can cut its
 * imports differently), and installing their old values again would repeat numbers.
 */
export function importSlots(txn: KvTxn, epoch: number, slots: SlotSet, data: Buffer): CommandResult {
  const fresh = importableSlots(txn, epoch, slots);
  if (!Array.isArray(fresh)) return fresh;
  if (fresh.length === 0) return intResult(0n);
  const bad = checkSlotData(data, slots);
  if (bad !== null) return errorResult(ErrorCode.SYNTAX, `bad slot data: ${bad}`);
  importSlotData(txn, SlotSet.of(fresh), data);
  adoptSlots(txn, epoch, fresh);
  return intResult(BigInt(fresh.length));
}

/** REJECT: all or nothing; refused if any slot was imported at M (the move must finish). */
export function rejectSlots(txn: KvTxn, epoch: number, slots: SlotSet): CommandResult {
  const owned = ownedSlots(txn);
  const frozen = frozenSlots(txn);
  for (const slot of list(slots)) {
    if (owned.has(slot) && slotEpoch(txn, slot) === epoch && frozen.has(slot)) return refused(sourceNotTarget(slot, epoch));
    if (owned.has(slot) && slotEpoch(txn, slot) === epoch) return refused(`slot ${slot} was imported at epoch ${epoch}: finish the move`);
  }
  raiseEpochs(txn, epoch, list(slots));
  // Staged parts of a chunked import (move-import.ts) can never be used now: drop them.
  clearStaging(txn, epoch);
  return OK_RESULT;
}

/** Slots frozen by a move out, for the fence (ownership.ts). */
export function isFrozen(kv: KvReader, slot: number): boolean {
  const bits = kv.get(OWN.frozen);
  return bits !== undefined && slot < slotCount && ((bits[slot >> 3] ?? 0) & (1 << (slot & 7))) !== 0;
}
