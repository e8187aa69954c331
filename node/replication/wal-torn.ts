/**
 * Is the bad record where a segment's valid records end a torn write, or damage? Recovery cuts a
 * torn write off the last segment (that write never returned, so nothing it held was
 * acknowledged) but must refuse damage: one flipped bit in a record written long ago would
 * otherwise silently cut every later, acknowledged record (up to a whole segment) off the log.
 *
 * The test follows etcd's (wal/decoder.go, isTornEntry): a write that did not finish left some of
 * its sectors unwritten, and an unwritten sector of a segment still holds what it held before the
 * write: zeros past the records (segments are append-only, extended with zeros by preallocation or
 * by the file system, and a cut tail is truncated away before anything is written there again).
 * A write starting inside a sector shares it with the records before it, so there only the part
 * from the write on is zeros. So the bad record at `at` is torn if
 * - fewer than a header's bytes remain, or it claims to extend past the end of the file, or
 * - its bytes from `at` to the end of that first sector are zeros (this covers the end of the
 *   records: a header of zeros), or
 * - a later sector it covers (for a nonsense length: that its header covers) is all zeros;
 * otherwise every sector it covers was written, and a record written whole that does not check
 * out is damage. And whatever the above says, a whole, checksum-valid record after it, before any
 * unwritten sector, proves it damage: a torn write is the last thing written (a review: a flipped
 * bit in an old record's length made it claim past the end, or over the preallocated zeros, and
 * every later acknowledged record was cut). Sectors are taken as 512 bytes: a device with larger atomic sectors leaves larger
 * runs of zeros, which contain 512-byte ones.
 */
import { readSync } from 'node:fs';
import { RECORD_BYTES_MAX, RECORD_HEADER_BYTES, RecordKind, decodeRecord, recordLength } from './wal-codec.ts';

export const SECTOR_BYTES = 512;

/** Whether the bad record at `at` of the file `fd` (of `size` bytes) is a torn write (see above). */
export function isTornWrite(fd: number, size: number, at: number): boolean {
  if (size - at < RECORD_HEADER_BYTES) return true;
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  if (readSync(fd, header, 0, header.length, at) !== header.length) return true;
  const len = recordLength(header, 0);
  const sane = len >= RECORD_HEADER_BYTES && len <= RECORD_BYTES_MAX;
  if (sane && at + len > size) return !wholeRecordAfter(fd, size, at);
  return hasUnwrittenSector(fd, size, at, at + (sane ? len : RECORD_HEADER_BYTES)) && !wholeRecordAfter(fd, size, at);
}

/** A record's kind byte: checked before its checksum, so that the scan stays cheap. */
const KINDS: ReadonlySet<number> = new Set(Object.values(RecordKind));

/**
 * Whether the bad record at `at` is followed by records written whole that run on, one after
 * the other, to the end of what was written: then it was written whole too (a damaged length
 * field, say, that claims past the end or over the preallocated zeros), since a torn write is
 * the last thing written. One valid record somewhere after it is not enough: a torn write's own
 * written part holds client bytes verbatim (a sequence name may be an encoded record), and a
 * crash then made the node refuse to start forever (a review); such a record is followed by the
 * rest of the torn write, not by records to the end.
 */
function wholeRecordAfter(fd: number, size: number, at: number): boolean {
  const limit = Math.min(size, at + RECORD_BYTES_MAX);
  const buf = Buffer.allocUnsafe(limit - at);
  const n = readSync(fd, buf, 0, buf.length, at);
  // Only up to the first piece that reads as never written: a torn write's own later records
  // (one write can hold several) lie past an unwritten sector; a damaged record's successors do not.
  let stop = n;
  for (let pos = 0; pos < n;) {
    const pieceEnd = Math.min(n, (Math.floor((at + pos) / SECTOR_BYTES) + 1) * SECTOR_BYTES - at);
    if (isZero(buf, pos, pieceEnd)) {
      stop = pos;
      break;
    }
    pos = pieceEnd;
  }
  for (let p = 1; p < stop && p + RECORD_HEADER_BYTES <= n; p++) {
    if (recordAt(buf, p, n) > 0 && chainRunsToEnd(buf, p, n, at + n === size)) return true;
  }
  return false;
}

/** The length of the valid record at `p` of `buf[0, n)`, or 0. */
function recordAt(buf: Buffer, p: number, n: number): number {
  if (p + RECORD_HEADER_BYTES > n) return 0;
  const len = recordLength(buf, p);
  if (len < RECORD_HEADER_BYTES || len > RECORD_BYTES_MAX || p + len > n || !KINDS.has(buf[p + 8]!)) return 0;
  return decodeRecord(buf.subarray(p, p + len)) === undefined ? 0 : len;
}

/**
 * Whether valid records follow one another from `p` to the end of what was written: the end of
 * the file, or zeros to the end of what was read. Reaching the end of a read window that stops
 * short of the file's end (`wholeFile` false) also counts, after at least two records.
 */
function chainRunsToEnd(buf: Buffer, p: number, n: number, wholeFile: boolean): boolean {
  let records = 0;
  for (let q = p; ; ) {
    if (q === n) return wholeFile || records >= 2;
    const len = recordAt(buf, q, n);
    if (len === 0) return isZero(buf, q, n) || (!wholeFile && records >= 2 && q + recordLength(buf, q) > n);
    records++;
    q += len;
  }
}

/**
 * Whether [from, to) of the file covers bytes that read as never written: from `from` to the end
 * of its sector, or a whole later sector, all zeros (a sector cut short by the file's end counts
 * up to the end).
 */
function hasUnwrittenSector(fd: number, size: number, from: number, to: number): boolean {
  const end = Math.min(size, Math.ceil(to / SECTOR_BYTES) * SECTOR_BYTES);
  const piece = Buffer.allocUnsafe(SECTOR_BYTES);
  // A sector at a time: this runs once per damaged tail, and a record is at most 64 MiB.
  for (let pos = from; pos < end;) {
    const pieceEnd = Math.min(end, (Math.floor(pos / SECTOR_BYTES) + 1) * SECTOR_BYTES);
    const n = readSync(fd, piece, 0, pieceEnd - pos, pos);
    if (n < pieceEnd - pos || isZero(piece, 0, n)) return true;
    pos = pieceEnd;
  }
  return false;
}

function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}
