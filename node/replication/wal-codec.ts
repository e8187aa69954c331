/**
 * Records of the Raft log's write-ahead file (wal.ts). Each record:
 *   length u32 (of kind + body) | crc32 u32 (of kind + body, seeded with the segment's salt) | kind u8 | body
 * A record is valid only whole and with its checksum: a crash mid-write leaves a torn tail that
 * recovery cuts off (it was never acknowledged: every acknowledgement follows an fdatasync).
 *
 * The salt: a segment starts with a SEGMENT record (its own checksum unseeded) that holds a random
 * salt, and every later record's checksum is seeded with it. Records carry client bytes verbatim
 * (a sequence name is up to 256 arbitrary bytes), so without a salt a client could write a name
 * that is itself a valid record, and a torn tail holding it would read as damage (wal-torn.ts).
 * No client ever sees the salt. Segments written before salts (no SEGMENT record) read with salt 0,
 * which is the plain crc32; a build older than salts refuses a salted segment as damaged (it
 * never cuts it: its first record is written whole).
 *
 * Bodies (integers big-endian):
 * - SEGMENT: format u8 (1) | salt u32. Only ever the first record of a segment.
 * - ENTRIES: first index u64 | count u32 | per entry: term u64 | type u8 | length u32 | data.
 *   Entries at and after `first index` replace whatever the log held there (a follower's conflict).
 * - HARD_STATE: term u64 | commit u64 | vote length u16 | vote (utf8). The newest one counts.
 * - RESET: index u64 | term u64. The log restarts after (index, term): a snapshot replaced it.
 */
import { readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import type { Entry, EntryType, HardState } from '../raft/types.ts';

export const RecordKind = { Entries: 1, HardState: 2, Reset: 3, Segment: 4 } as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

export const RECORD_HEADER_BYTES = 9;
export const RESET_RECORD_BYTES = RECORD_HEADER_BYTES + 16;
const SEGMENT_FORMAT = 1;
const SEGMENT_RECORD_BYTES = RECORD_HEADER_BYTES + 5;
/** Per-entry bytes in an ENTRIES body besides the data. */
const ENTRY_HEAD_BYTES = 13;
/** A record longer than this is corruption, not a record (a batch entry is at most ~256 KB). */
export const RECORD_BYTES_MAX = 64 << 20;
const TWO_32 = 2 ** 32;

export interface IndexTerm {
  readonly index: number;
  readonly term: number;
}

/** Where an entry's data sits, relative to the record's first byte. */
export interface EntrySlot {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly dataOffset: number;
  readonly dataLength: number;
}

export type WalRecord =
  | { readonly kind: typeof RecordKind.Entries; readonly slots: readonly EntrySlot[] }
  | { readonly kind: typeof RecordKind.HardState; readonly hardState: HardState }
  | { readonly kind: typeof RecordKind.Reset; readonly at: IndexTerm }
  | { readonly kind: typeof RecordKind.Segment; readonly salt: number };

function writeU64(b: Buffer, v: number, off: number): void {
  b.writeUInt32BE(Math.floor(v / TWO_32), off);
  b.writeUInt32BE(v >>> 0, off + 4);
}

function readU64(b: Buffer, off: number): number {
  return b.readUInt32BE(off) * TWO_32 + b.readUInt32BE(off + 4);
}

function seal(b: Buffer, kind: RecordKind, salt: number): Buffer {
  b.writeUInt32BE(b.length - 8, 0);
  b[8] = kind;
  b.writeUInt32BE(crc32(b.subarray(8), salt), 4);
  return b;
}

/** A segment's first record: its salt (see above), under an unseeded checksum. */
export function encodeSegmentHeader(salt: number): Buffer {
  const b = Buffer.allocUnsafe(SEGMENT_RECORD_BYTES);
  b[RECORD_HEADER_BYTES] = SEGMENT_FORMAT;
  b.writeUInt32BE(salt >>> 0, RECORD_HEADER_BYTES + 1);
  return seal(b, RecordKind.Segment, 0);
}

export function encodeEntries(entries: readonly Entry[], salt = 0): Buffer {
  let size = RECORD_HEADER_BYTES + 12;
  for (const e of entries) size += ENTRY_HEAD_BYTES + e.data.length;
  const b = Buffer.allocUnsafe(size);
  writeU64(b, entries[0]!.index, RECORD_HEADER_BYTES);
  b.writeUInt32BE(entries.length, RECORD_HEADER_BYTES + 8);
  let off = RECORD_HEADER_BYTES + 12;
  for (const e of entries) {
    writeU64(b, e.term, off);
    b[off + 8] = e.type;
    b.writeUInt32BE(e.data.length, off + 9);
    b.set(e.data, off + ENTRY_HEAD_BYTES);
    off += ENTRY_HEAD_BYTES + e.data.length;
  }
  return seal(b, RecordKind.Entries, salt);
}

/**
 * The same record as encodeEntries, as parts for one writev: the entries' data is not copied
 * (only the heads are new bytes; the checksum runs over the parts in order).
 */
export function encodeEntriesParts(entries: readonly Entry[], salt = 0): { parts: Uint8Array[]; bytes: number } {
  const heads = Buffer.allocUnsafe(RECORD_HEADER_BYTES + 12 + ENTRY_HEAD_BYTES * entries.length);
  writeU64(heads, entries[0]!.index, RECORD_HEADER_BYTES);
  heads.writeUInt32BE(entries.length, RECORD_HEADER_BYTES + 8);
  heads[8] = RecordKind.Entries;
  const recordHead = heads.subarray(0, RECORD_HEADER_BYTES + 12);
  let crc = crc32(recordHead.subarray(8), salt);
  const parts: Uint8Array[] = [recordHead];
  let bytes = recordHead.length;
  let off = recordHead.length;
  for (const e of entries) {
    const h = heads.subarray(off, off + ENTRY_HEAD_BYTES);
    writeU64(h, e.term, 0);
    h[8] = e.type;
    h.writeUInt32BE(e.data.length, 9);
    crc = crc32(e.data, crc32(h, crc));
    parts.push(h);
    if (e.data.length > 0) parts.push(e.data);
    bytes += ENTRY_HEAD_BYTES + e.data.length;
    off += ENTRY_HEAD_BYTES;
  }
  heads.writeUInt32BE(bytes - 8, 0);
  heads.writeUInt32BE(crc, 4);
  return { parts, bytes };
}

export function encodeHardState(hs: HardState, salt = 0): Buffer {
  const vote = Buffer.from(hs.vote ?? '', 'utf8');
  const b = Buffer.allocUnsafe(RECORD_HEADER_BYTES + 18 + vote.length);
  writeU64(b, hs.term, RECORD_HEADER_BYTES);
  writeU64(b, hs.commit, RECORD_HEADER_BYTES + 8);
  b.writeUInt16BE(vote.length, RECORD_HEADER_BYTES + 16);
  vote.copy(b, RECORD_HEADER_BYTES + 18);
  return seal(b, RecordKind.HardState, salt);
}

export function encodeReset(at: IndexTerm, salt = 0): Buffer {
  const b = Buffer.allocUnsafe(RECORD_HEADER_BYTES + 16);
  writeU64(b, at.index, RECORD_HEADER_BYTES);
  writeU64(b, at.term, RECORD_HEADER_BYTES + 8);
  return seal(b, RecordKind.Reset, salt);
}

/** Where encodeEntries puts each entry's data, relative to the record's first byte. */
export function entrySlots(entries: readonly Entry[]): EntrySlot[] {
  let off = RECORD_HEADER_BYTES + 12;
  return entries.map((e) => {
    const slot = { index: e.index, term: e.term, type: e.type, dataOffset: off + ENTRY_HEAD_BYTES, dataLength: e.data.length };
    off += ENTRY_HEAD_BYTES + e.data.length;
    return slot;
  });
}

/** The whole record's length from its first 4 bytes; 0 past the end of what was written. */
export function recordLength(b: Buffer, off: number): number {
  return b.readUInt32BE(off) + 8;
}

/**
 * Decodes the record that fills `b` exactly (header included) in a segment of salt `salt`;
 * undefined if it is torn or corrupt (bad checksum, unknown kind, a body that does not add up).
 * A SEGMENT record is checked unseeded: the reader learns the salt from it.
 */
export function decodeRecord(b: Buffer, salt = 0): WalRecord | undefined {
  if (b.length < RECORD_HEADER_BYTES || b.readUInt32BE(0) + 8 !== b.length) return undefined;
  const kind = b[8];
  if (crc32(b.subarray(8), kind === RecordKind.Segment ? 0 : salt) !== b.readUInt32BE(4)) return undefined;
  const body = RECORD_HEADER_BYTES;
  if (kind === RecordKind.Segment) {
    return b.length === SEGMENT_RECORD_BYTES && b[body] === SEGMENT_FORMAT ? { kind, salt: b.readUInt32BE(body + 1) } : undefined;
  }
  if (kind === RecordKind.HardState && b.length >= body + 18) {
    const voteLen = b.readUInt16BE(body + 16);
    if (b.length !== body + 18 + voteLen) return undefined;
    const vote = voteLen === 0 ? null : b.toString('utf8', body + 18, body + 18 + voteLen);
    return { kind, hardState: { term: readU64(b, body), vote, commit: readU64(b, body + 8) } };
  }
  if (kind === RecordKind.Reset && b.length === body + 16) return { kind, at: { index: readU64(b, body), term: readU64(b, body + 8) } };
  if (kind !== RecordKind.Entries || b.length < body + 12) return undefined;
  const first = readU64(b, body);
  const count = b.readUInt32BE(body + 8);
  const slots: EntrySlot[] = [];
  let off = body + 12;
  for (let i = 0; i < count; i++) {
    if (off + ENTRY_HEAD_BYTES > b.length) return undefined;
    const dataLength = b.readUInt32BE(off + 9);
    if (off + ENTRY_HEAD_BYTES + dataLength > b.length) return undefined;
    slots.push({ index: first + i, term: readU64(b, off), type: b[off + 8] as EntryType, dataOffset: off + ENTRY_HEAD_BYTES, dataLength });
    off += ENTRY_HEAD_BYTES + dataLength;
  }
  return off === b.length ? { kind, slots } : undefined;
}

/** One ENTRIES record's size bound when writing, well under what recovery accepts (RECORD_BYTES_MAX). */
const RECORD_CHUNK_BYTES = RECORD_BYTES_MAX / 4;

/** Entries of one write as records of at most RECORD_CHUNK_BYTES each (recovery refuses longer records). */
export function recordChunks(entries: readonly Entry[]): (readonly Entry[])[] {
  const out: (readonly Entry[])[] = [];
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < entries.length; i++) {
    const size = ENTRY_HEAD_BYTES + entries[i]!.data.length;
    if (i > from && bytes + size > RECORD_CHUNK_BYTES) {
      out.push(entries.slice(from, i));
      from = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (from < entries.length) out.push(from === 0 ? entries : entries.slice(from));
  return out;
}

const READ_CHUNK_BYTES = 1 << 20;

/** Where a segment's valid records end (a torn or damaged record, or the end), and its salt. */
export interface ScanEnd {
  readonly end: number;
  readonly salt: number;
}

/**
 * Reads a segment's records in order from `fd` (of `size` bytes) through a 1 MiB buffer, calling
 * `onRecord` with each valid one and its offset. A SEGMENT record counts only first: one anywhere
 * else ends the valid records like any bad record (its checksum is unseeded, so a client could forge it).
 */
export function scanRecords(fd: number, size: number, onRecord: (rec: WalRecord, at: number) => void): ScanEnd {
  let buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  let bufAt = 0;
  let bufLen = 0;
  const fill = (at: number, need: number): boolean => {
    if (at >= bufAt && at + need <= bufAt + bufLen) return true;
    if (at + need > size) return false;
    if (need > buf.length) buf = Buffer.allocUnsafe(need);
    bufLen = readSync(fd, buf, 0, Math.min(buf.length, size - at), at);
    bufAt = at;
    return bufLen >= need;
  };
  let at = 0;
  let salt = 0;
  while (at < size) {
    if (!fill(at, RECORD_HEADER_BYTES)) break;
    const len = recordLength(buf, at - bufAt);
    if (len < RECORD_HEADER_BYTES || len > RECORD_BYTES_MAX || !fill(at, len)) break;
    const rec = decodeRecord(buf.subarray(at - bufAt, at - bufAt + len), salt);
    if (rec === undefined) break;
    if (rec.kind === RecordKind.Segment) {
      if (at !== 0) break;
      salt = rec.salt;
    }
    onRecord(rec, at);
    at += len;
  }
  return { end: at, salt };
}

/** What one write of the log puts on disk, in this order (wal.ts). */
export interface WalWrite {
  readonly reset?: IndexTerm;
  readonly entries?: readonly Entry[];
  readonly hardState?: HardState;
}

/** A write as writev parts, and its entries as they were split into records. */
export interface EncodedWrite {
  readonly parts: Uint8Array[];
  readonly bytes: number;
  readonly chunks: readonly (readonly Entry[])[];
}

/** The write's records, for a segment of salt `salt`, as parts for one writev (entries' data not copied). */
export function encodeWrite(w: WalWrite, salt: number): EncodedWrite {
  const parts: Uint8Array[] = [];
  let bytes = 0;
  const add = (b: Buffer): void => {
    parts.push(b);
    bytes += b.length;
  };
  if (w.reset) add(encodeReset(w.reset, salt));
  const chunks = recordChunks(w.entries ?? []);
  for (const chunk of chunks) {
    const e = encodeEntriesParts(chunk, salt);
    for (const p of e.parts) parts.push(p);
    bytes += e.bytes;
  }
  if (w.hardState) add(encodeHardState(w.hardState, salt));
  return { parts, bytes, chunks };
}
