/**
 * A set of slots as a 16384-bit bitmap (2 KiB): what one shard owns. Encoded as base64 on the
 * wire and stored raw in LMDB. Pure.
 */
import { slotCount } from '../../shared/placement/slot.ts';

export const SLOT_SET_BYTES = slotCount / 8;

export class SlotSet {
  readonly bits: Uint8Array;

  constructor(bits?: Uint8Array) {
    if (bits !== undefined && bits.length !== SLOT_SET_BYTES) throw new RangeError(`a slot set is ${SLOT_SET_BYTES} bytes`);
    this.bits = bits === undefined ? new Uint8Array(SLOT_SET_BYTES) : Uint8Array.from(bits);
  }

  static of(slots: Iterable<number>): SlotSet {
    const set = new SlotSet();
    for (const slot of slots) set.add(slot);
    return set;
  }

  has(slot: number): boolean {
    return hasSlot(this.bits, slot);
  }

  add(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= slotCount) throw new RangeError(`bad slot ${slot}`);
    this.bits[slot >> 3]! |= 1 << (slot & 7);
  }

  get size(): number {
    let n = 0;
    for (const byte of this.bits) n += POPCOUNT[byte]!;
    return n;
  }

  *slots(): Generator<number> {
    for (let slot = 0; slot < slotCount; slot++) if (this.has(slot)) yield slot;
  }

  toBase64(): string {
    return Buffer.from(this.bits).toString('base64');
  }

  /** Strict: null unless exactly SLOT_SET_BYTES of canonical base64. */
  static fromBase64(text: string): SlotSet | null {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
    const bytes = Buffer.from(text, 'base64');
    if (bytes.length !== SLOT_SET_BYTES || bytes.toString('base64') !== text) return null;
    return new SlotSet(bytes);
  }
}

/** Bit test on raw bitmap bytes (as read from storage), without copying them. */
export function hasSlot(bits: Uint8Array, slot: number): boolean {
  return ((bits[slot >> 3] ?? 0) & (1 << (slot & 7))) !== 0;
}

const POPCOUNT = (() => {
  const t = new Uint8Array(256);
  for (let i = 1; i < 256; i++) t[i] = (i & 1) + t[i >> 1]!;
  return t;
})();
