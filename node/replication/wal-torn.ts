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

/** Whether the bad record at `at` of the file `fd` (of `size` bytes, salt `salt`) is a torn write (see above). */
export function isTornWrite(fd: number, size: number, at: number, salt: number): boolean {
  if (size - at < RECORD_HEADER_BYTES) return true;
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  if (readSync(fd, header, 0, header.length, at) !== header.length) return true;
  // A segment's SEGMENT record is on disk before the segment gets its name (wal-segment-files.ts):
  // never torn. Bad there is damage, and the later records cannot prove it (their salt is in it:
  // a review saw one flipped length bit cut a whole segment, hard state included).
  if (at === 0 && header[8] === RecordKind.Segment) return false;
  const len = recordLength(header, 0);
  const sane = len >= RECORD_HEADER_BYTES && len <= RECORD_BYTES_MAX;
  if (sane && at + len > size) return !wholeRecordAfter(fd, size, at, salt);
  return hasUnwrittenSector(fd, size, at, at + (sane ? len : RECORD_HEADER_BYTES)) && !wholeRecordAfter(fd, size, at, salt);
}

/**
 * Whether a whole, checksum-valid record starts anywhere after `at`: a torn write is the last
 * thing written, so a valid record after the bad one proves the bad one was written whole (a
 * damaged length field, say, that claims past the end or over the preallocated zeros; a review).
 *
 * A torn write's own written part holds client bytes verbatim, and a sequence name can be an
 * encoded record: only the segment's salt (wal-codec.ts), which no client knows, tells a record
 * the node wrote from one a client spelled. Before salts, such a name made a genuinely torn tail
 * read as damage and the node refused to start (a review); asking for records that run on to the
 * end instead (tried) cut acknowledged records when an old record was damaged and the segment also
 * ended torn (a review), which is worse. A segment written before salts keeps that limit; none is
 * written to after an upgrade (wal.ts starts a salted one).
 */
/** Kinds a record after the first can have (not SEGMENT, whose checksum is unseeded): checked before the checksum, so that the scan stays cheap. */
const KINDS: ReadonlySet<number> = new Set([RecordKind.Entries, RecordKind.HardState, RecordKind.Reset]);

function wholeRecordAfter(fd: number, size: number, at: number, salt: number): boolean {
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
    const len = recordLength(buf, p);
    if (len < RECORD_HEADER_BYTES || len > RECORD_BYTES_MAX || p + len > n || !KINDS.has(buf[p + 8]!)) continue;
    if (decodeRecord(buf.subarray(p, p + len), salt) !== undefined) return true;
  }
  return false;
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

/**
 * Whether the file's bytes [from, to) are all zeros: the preallocated space after the last
 * record, as opposed to a torn write's bytes (recovery reports the latter). Read 64 KiB at a time.
 */
export function isZeroTail(fd: number, from: number, to: number): boolean {
  const piece = Buffer.allocUnsafe(Math.min(64 << 10, Math.max(0, to - from)));
  for (let pos = from; pos < to;) {
    const n = readSync(fd, piece, 0, Math.min(piece.length, to - pos), pos);
    if (n <= 0) return true;
    if (!isZero(piece, 0, n)) return false;
    pos += n;
  }
  return true;
}
