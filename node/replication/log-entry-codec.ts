/**
 * How a Raft log entry is stored in LMDB (lmdb-raft-storage.ts): key = 8-byte big-endian index
 * (LMDB's byte order is then log order), value = term (u64) | type (u8) | data.
 */
import type { Entry, EntryType } from '../raft/types.ts';

const TWO_32 = 2 ** 32;

export function indexKey(index: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(Math.floor(index / TWO_32), 0);
  b.writeUInt32BE(index >>> 0, 4);
  return b;
}

export function readU64(b: Uint8Array, off: number): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return v.getUint32(off) * TWO_32 + v.getUint32(off + 4);
}

export function encodeEntryValue(e: Entry): Buffer {
  const b = Buffer.allocUnsafe(9 + e.data.length);
  b.writeUInt32BE(Math.floor(e.term / TWO_32), 0);
  b.writeUInt32BE(e.term >>> 0, 4);
  b.writeUInt8(e.type, 8);
  b.set(e.data, 9);
  return b;
}

export function decodeEntry(index: number, v: Uint8Array): Entry {
  // Copy: lmdb may hand out buffers backed by the memory map.
  return { index, term: readU64(v, 0), type: v[8] as EntryType, data: Uint8Array.prototype.slice.call(v, 9) };
}
