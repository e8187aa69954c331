/**
 * Which shard's image holds the current data of each slot, in a backup of a sharded cluster.
 *
 * Shards are exported one after another, and a slot may move meanwhile (node/rebalance). Every
 * image carries its shard's ownership records (node/ownership/keys.ts), and at every instant of
 * a move at least one shard owns the slot: the source until RELEASE, the target from IMPORT(DONE)
 * on, both in between (the source frozen, so it no longer changes). So per slot:
 * - owned by several images: the data that counts is the owner's with the newest move epoch for
 *   the slot (the target's: it started from the source's frozen copy), an unfrozen one on a tie;
 *   older copies are stale and must not win, or numbers handed out would be handed out again;
 * - owned by none: the slot's data was in transit between two exports (the target exported
 *   before its import, the source after its release) and is in no image: the backup is unusable.
 * An image that is not a shard's of a sharded cluster owns every slot.
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { slotCount, slotOf } from '../../shared/placement/slot.ts';
import { decodeSnapshot } from '../state-machine/index.ts';
import { OWN, SPACE_OWNERSHIP } from '../ownership/keys.ts';
import { MOVABLE_SPACES, bucketOfKey } from '../ownership/slot-data.ts';
import { SlotSet } from '../ownership/slot-set.ts';

export interface ImageOwnership {
  /** A shard of a sharded cluster (else it owns every slot). */
  readonly sharded: boolean;
  /** The shard's ownership epoch: 0 while it has not applied its first SETSLOTS. */
  readonly epoch: number;
  readonly slots: SlotSet;
  readonly frozen: SlotSet;
  /** Newest move epoch per slot (absent: 0). */
  readonly slotEpochs: ReadonlyMap<number, number>;
}

/** Reads an image's ownership records (one pass over the image's chunks). */
export function imageOwnership(chunks: Iterable<Uint8Array>): ImageOwnership {
  let sharded = false;
  let epoch = 0;
  let slots = new SlotSet();
  let frozen = new SlotSet();
  const slotEpochs = new Map<number, number>();
  for (const { key, value } of decodeSnapshot(chunks)) {
    if (key[0] !== SPACE_OWNERSHIP) continue;
    if (key.equals(OWN.mode)) sharded = true;
    else if (key.equals(OWN.epoch)) epoch = u64(value);
    else if (key.equals(OWN.slots)) slots = new SlotSet(value);
    else if (key.equals(OWN.frozen)) frozen = new SlotSet(value);
    else if (key.length === 4 && key[1] === 0x65) slotEpochs.set(key.readUInt16BE(2), u64(value)); // slotEpochKey
  }
  return { sharded, epoch, slots, frozen, slotEpochs };
}

function u64(value: Buffer): number {
  return value.length === 8 ? Number(value.readBigUInt64BE(0)) : 0;
}

function owns(o: ImageOwnership, slot: number): boolean {
  return !o.sharded || o.slots.has(slot);
}

/**
 * Per slot, the index of the image whose data counts (see above), or -1 when no image owns it.
 * Throws if two unfrozen owners share the slot's newest move epoch (never in one cluster).
 */
export function slotOwners(images: readonly ImageOwnership[]): Int32Array {
  const out = new Int32Array(slotCount).fill(-1);
  for (let slot = 0; slot < slotCount; slot++) {
    let best = -1;
    for (let i = 0; i < images.length; i++) {
      if (!owns(images[i]!, slot)) continue;
      if (best < 0 || newer(images[i]!, images[best]!, slot) > 0) best = i;
      else if (newer(images[i]!, images[best]!, slot) === 0) throw new SeqError(ErrorCode.SYNTAX, `slot ${slot} is owned alike by two images: not one cluster's backup`);
    }
    out[slot] = best;
  }
  return out;
}

/** > 0: `a`'s copy of the slot is the newer; 0: alike. */
function newer(a: ImageOwnership, b: ImageOwnership, slot: number): number {
  const epochs = (a.slotEpochs.get(slot) ?? 0) - (b.slotEpochs.get(slot) ?? 0);
  if (epochs !== 0) return epochs;
  return Number(b.sharded && b.frozen.has(slot)) - Number(a.sharded && a.frozen.has(slot));
}

/**
 * Slots no image owns although some image is of a shard that applied its slots: their data was
 * in transit between two exports. A shard still forming (epoch 0) owns nothing and holds no
 * data, so it changes nothing here; it used to switch the check off for every shard, and a slot
 * moved into a new shard exported before its first SETSLOTS, out of the source exported after
 * the move, was in no image and the backup accepted without it (a review).
 */
export function slotsInTransit(images: readonly ImageOwnership[], owners: Int32Array): number[] {
  if (images.length === 0 || images.some((o) => !o.sharded) || images.every((o) => o.epoch === 0)) return [];
  const out: number[] = [];
  for (let slot = 0; slot < slotCount; slot++) if (owners[slot] === -1) out.push(slot);
  return out;
}

/**
 * Whether an entry of image `index` counts: entries of a bucket count only in the image chosen
 * for the bucket's slot; every other entry counts.
 */
export function entryCounts(key: Buffer, index: number, owners: Int32Array): boolean {
  if (!MOVABLE_SPACES.some((s) => s.tag === key[0])) return true;
  const bucket = bucketOfKey(key);
  return bucket === null || owners[slotOf(bucket)] === index;
}
