import { RECORD_HEADER_BYTES, RecordKind, decodeRecord, recordLength, type WalRecord } from '../../node/replication/wal-codec.ts';

/**
 * A segment file's valid records with their offsets, up to the first bad one or the zeros written
 * ahead of them (wal.ts: preallocation); the first record's salt seeds the rest (wal-codec.ts).
 */
export function segmentRecords(b: Buffer): { rec: WalRecord; at: number }[] {
  const out: { rec: WalRecord; at: number }[] = [];
  let salt = 0;
  for (let at = 0; at + RECORD_HEADER_BYTES <= b.length && recordLength(b, at) >= RECORD_HEADER_BYTES; at += recordLength(b, at)) {
    const rec = decodeRecord(b.subarray(at, at + recordLength(b, at)), salt);
    if (rec === undefined) break;
    if (rec.kind === RecordKind.Segment) salt = rec.salt;
    out.push({ rec, at });
  }
  return out;
}
