/**
 * Snapshot image format: the bytes "SEQDBSN1", then entries `u16 keyLen | key | u32 valueLen |
 * value` in key order until the end. Streamed in chunks so a large state need not be one buffer.
 */
import type { KvEntry } from './kv.ts';

const MAGIC = Buffer.from('SEQDBSN1', 'ascii');
const KEY_BYTES_MAX = 0xffff;

export function* encodeSnapshot(entries: Iterable<KvEntry>, chunkBytes: number): Generator<Buffer> {
  let parts: Buffer[] = [MAGIC];
  let size = MAGIC.length;
  for (const { key, value } of entries) {
    if (key.length > KEY_BYTES_MAX) throw new Error('snapshot key too long');
    const head = Buffer.allocUnsafe(6);
    head.writeUInt16BE(key.length, 0);
    head.writeUInt32BE(value.length, 2);
    // Copy: LMDB buffers from a read transaction are only valid while it is open.
    parts.push(head.subarray(0, 2), Buffer.from(key), head.subarray(2), Buffer.from(value));
    size += 6 + key.length + value.length;
    if (size >= chunkBytes) {
      yield Buffer.concat(parts);
      parts = [];
      size = 0;
    }
  }
  if (parts.length > 0) yield Buffer.concat(parts);
}

/** Parses a snapshot image given in chunks split anywhere. Throws on any malformation. */
export function* decodeSnapshot(chunks: Iterable<Uint8Array>): Generator<KvEntry> {
  let carry = Buffer.alloc(0);
  let sawMagic = false;
  for (const chunk of chunks) {
    carry = carry.length === 0 ? Buffer.from(chunk) : Buffer.concat([carry, chunk]);
    if (!sawMagic) {
      if (carry.length < MAGIC.length) continue;
      if (!carry.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a SeqDB snapshot');
      carry = carry.subarray(MAGIC.length);
      sawMagic = true;
    }
    let at = 0;
    for (;;) {
      if (carry.length - at < 6) break;
      const keyLength = carry.readUInt16BE(at);
      if (carry.length - at < 6 + keyLength) break;
      const valueLength = carry.readUInt32BE(at + 2 + keyLength);
      const end = at + 6 + keyLength + valueLength;
      if (carry.length < end) break;
      const key = Buffer.from(carry.subarray(at + 2, at + 2 + keyLength));
      yield { key, value: Buffer.from(carry.subarray(at + 6 + keyLength, end)) };
      at = end;
    }
    carry = carry.subarray(at);
  }
  if (!sawMagic || carry.length !== 0) throw new Error('truncated SeqDB snapshot');
}
