/**
 * Snapshot image format: the bytes "SEQDBSN1", then entries `u16 keyLen | key | u32 valueLen |
 * value` in key order until the end. Streamed in chunks so a large state need not be one buffer.
 */
import type { KvEntry } from './kv.ts';

const MAGIC = Buffer.from('SEQDBSN1', 'ascii');
/** An image's keys are at most this long (u16 length). */
export const KEY_BYTES_MAX = 0xffff;
/**
 * Chunk size for an export that shares the event loop with requests (an own snapshot, a state
 * digest, a backup image), which takes one chunk per turn: encoding one costs this box ~1-2 ms
 * (bench/README.md, thirtieth round).
 */
export const SLICE_BYTES = 64 << 10;
/** A chunk buffer starts at most this large and doubles up to chunkBytes as entries come. */
const CHUNK_ALLOC_BYTES = 1 << 20;

/**
 * `reuse`: every chunk is yielded in the same buffer, overwritten by the next (valid only until
 * the next chunk is asked for), for a consumer that copies what it keeps: a new 1 MiB buffer per
 * chunk was ~50 MB of garbage behind each snapshot of a 1M-sequence state.
 */
export function* encodeSnapshot(entries: Iterable<KvEntry>, chunkBytes: number, reuse = false): Generator<Buffer> {
  // Entries are copied straight into the chunk (LMDB's buffers are only valid while the read
  // transaction is open): no per-entry Buffers that would live until the chunk is joined, which
  // a million-entry export promoted into the old generation by the tens of MB.
  const out = new ChunkWriter(chunkBytes, reuse);
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

  constructor(private readonly chunkBytes: number, private readonly reuse: boolean) {}

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

  /**
   * The filled part. The next write starts a new buffer (the one handed out is never written
   * again), or with `reuse` the same one over again.
   */
  take(): Buffer {
    const full = this.buf.subarray(0, this.size);
    if (!this.reuse) this.buf = Buffer.alloc(0);
    this.size = 0;
    return full;
  }
}

/** Parses a snapshot image given in chunks split anywhere. Throws on any malformation. */
export function* decodeSnapshot(chunks: Iterable<Uint8Array>): Generator<KvEntry> {
  for (const { key, value } of snapshotEntryViews(chunks)) yield { key: Buffer.from(key), value: Buffer.from(value) };
}

/**
 * decodeSnapshot without copies: keys and values are views into the chunks (or into a join of
 * the few bytes of one record that spans two), for a caller that copies what it keeps, such as
 * an LMDB put. Only a record spanning chunks is joined: joining the rest of a chunk onto it cost
 * a chunk-sized copy per chunk (~50 MB of garbage Buffers behind a 1M-sequence import).
 */
export function* snapshotEntryViews(chunks: Iterable<Uint8Array>): Generator<KvEntry> {
  let carry: Buffer = Buffer.alloc(0);
  let sawMagic = false;
  for (const chunk of chunks) {
    let b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (!sawMagic) {
      carry = Buffer.concat([carry, b]);
      if (carry.length < MAGIC.length) continue;
      if (!carry.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a SeqDB snapshot');
      b = carry.subarray(MAGIC.length);
      carry = Buffer.alloc(0);
      sawMagic = true;
    }
    let at = 0;
    // Complete the record the last chunk left open, a header at a time, with as few bytes of this one.
    while (carry.length > 0 && at < b.length) {
      const need = recordBytes(carry, 0) - carry.length;
      if (need <= 0) throw new Error('snapshot decoder: carried a complete record'); // an invariant, not input
      const take = Math.min(need, b.length - at);
      carry = Buffer.concat([carry, b.subarray(at, at + take)]);
      at += take;
      if (recordBytes(carry, 0) === carry.length) {
        yield recordAt(carry, 0);
        carry = Buffer.alloc(0);
      }
    }
    if (carry.length > 0) continue;
    for (;;) {
      const end = at + recordBytes(b, at);
      if (end > b.length) break;
      yield recordAt(b, at);
      at = end;
    }
    // Copied (at most one record): the source may reuse this chunk's buffer for the next one.
    carry = Buffer.from(b.subarray(at));
  }
  if (!sawMagic || carry.length !== 0) throw new Error('truncated SeqDB snapshot');
}

/**
 * Bytes of the record at `at` (header `u16 keyLen | key | u32 valueLen`), as far as the buffer
 * tells: while its header is incomplete, the bytes up to the end of the part of it still missing.
 */
function recordBytes(buf: Buffer, at: number): number {
  const left = buf.length - at;
  if (left < 2) return 2;
  const keyLength = buf.readUInt16BE(at);
  if (left < 6 + keyLength) return 6 + keyLength;
  return 6 + keyLength + buf.readUInt32BE(at + 2 + keyLength);
}

function recordAt(buf: Buffer, at: number): KvEntry {
  const keyLength = buf.readUInt16BE(at);
  const valueLength = buf.readUInt32BE(at + 2 + keyLength);
  return { key: buf.subarray(at + 2, at + 2 + keyLength), value: buf.subarray(at + 6 + keyLength, at + 6 + keyLength + valueLength) };
}
