/**
 * Snapshot image format: the bytes "SEQDBSN1", then entries `u16 keyLen | key | u32 valueLen |
 * value` in key order until the end. Streamed in chunks so a large state need not be one buffer.
 */
import type { KvEntry } from './kv.ts';

const MAGIC = Buffer.from('SEQDBSN1', 'ascii');
const KEY_BYTES_MAX = 0xffff;
/** A chunk buffer starts at most this large and doubles up to chunkBytes as entries come. */
const CHUNK_ALLOC_BYTES = 1 << 20;

export function* encodeSnapshot(entries: Iterable<KvEntry>, chunkBytes: number): Generator<Buffer> {
  // Entries are copied straight into the chunk (LMDB's buffers are only valid while the read
  // transaction is open): no per-entry Buffers that would live until the chunk is joined, which
  // a million-entry export promoted into the old generation by the tens of MB.
  const out = new ChunkWriter(chunkBytes);
  out.reserve(MAGIC.length);
  out.put(MAGIC);
  for (const { key, value } of entries) {
    if (key.length > KEY_BYTES_MAX) throw new Error('snapshot key too long');
    const size = 6 + key.length + value.length;
    if (out.size > 0 && out.size + size > chunkBytes) yield out.take();
    out.reserve(size);
    out.u16(key.length);
    out.put(key);
    out.u32(value.length);
    out.put(value);
  }
  if (out.size > 0) yield out.take();
}

/**
 * One chunk being filled: allocated at the first write, at most CHUNK_ALLOC_BYTES, doubling up to
 * chunkBytes as needed.
 */
class ChunkWriter {
  private buf = Buffer.alloc(0);
  size = 0;

  constructor(private readonly chunkBytes: number) {}

  reserve(bytes: number): void {
    if (this.size + bytes <= this.buf.length) return;
    const next = this.buf.length === 0 ? Math.min(this.chunkBytes, CHUNK_ALLOC_BYTES) : Math.min(this.buf.length * 2, this.chunkBytes);
    const grown = Buffer.allocUnsafeSlow(Math.max(this.size + bytes, next));
    this.buf.copy(grown, 0, 0, this.size);
    this.buf = grown;
  }

  u16(n: number): void {
    this.size = this.buf.writeUInt16BE(n, this.size);
  }

  u32(n: number): void {
    this.size = this.buf.writeUInt32BE(n, this.size);
  }

  put(bytes: Uint8Array): void {
    this.buf.set(bytes, this.size);
    this.size += bytes.length;
  }

  /** The filled part; the next write starts a new buffer (the one handed out is never written again). */
  take(): Buffer {
    const full = this.buf.subarray(0, this.size);
    this.buf = Buffer.alloc(0);
    this.size = 0;
    return full;
  }
}

/** Parses a snapshot image given in chunks split anywhere. Throws on any malformation. */
export function* decodeSnapshot(chunks: Iterable<Uint8Array>): Generator<KvEntry> {
  for (const { key, value } of snapshotEntryViews(chunks)) yield { key: Buffer.from(key), value: Buffer.from(value) };
}

/**
 * decodeSnapshot without copies: keys and values are views into the chunks (or into the join of
 * two where a record spans them), for a caller that copies what it keeps, such as an LMDB put.
 */
export function* snapshotEntryViews(chunks: Iterable<Uint8Array>): Generator<KvEntry> {
  let carry: Buffer = Buffer.alloc(0);
  let sawMagic = false;
  for (const chunk of chunks) {
    const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    carry = carry.length === 0 ? b : Buffer.concat([carry, b]);
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
      yield { key: carry.subarray(at + 2, at + 2 + keyLength), value: carry.subarray(at + 6 + keyLength, end) };
      at = end;
    }
    carry = carry.subarray(at);
  }
  if (!sawMagic || carry.length !== 0) throw new Error('truncated SeqDB snapshot');
}
