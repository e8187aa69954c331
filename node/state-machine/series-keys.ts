/**
 * Key layout of the gapless-series audit trail (issue 12), next to keys.ts's spaces. The first
 * four spaces are bucket-keyed (`tag | lp(bucket) | lp(sequence) | ...`), so they move with their
 * bucket in a slot move (node/ownership/slot-data.ts MOVABLE_SPACES) and travel in snapshots
 * (the snapshot is the whole state database). The expiry index is global, ordered by time, so
 * one bounded sweep per apply finds the reservations that are due, whatever their sequence.
 *
 *   0x20 lp(b) lp(s)                  -> series header (series-record.ts)
 *   0x21 lp(b) lp(s) u64 number       -> number record: reserved / used / void
 *   0x22 lp(b) lp(s) u64 runIndex     -> run of plain-INC numbers {start, end, firstMs, lastMs}
 *   0x23 lp(b) lp(s) u64 number       -> u64 expiresMs: the open reservations, by number
 *   0x24 u64 expiresMs lp(b) lp(s) u64 number -> empty: every open reservation, by expiry time
 */
import { namesKey } from './keys.ts';

export const SPACE_SERIES = 0x20;
export const SPACE_SERIES_NUMBER = 0x21;
export const SPACE_SERIES_RUN = 0x22;
export const SPACE_SERIES_OPEN = 0x23;
export const SPACE_SERIES_EXPIRY = 0x24;

/** The bucket-keyed series spaces (copied verbatim by a slot move). */
export const SERIES_BUCKET_SPACES: readonly number[] = [SPACE_SERIES, SPACE_SERIES_NUMBER, SPACE_SERIES_RUN, SPACE_SERIES_OPEN];

/** Every series space: what a restore or merge must copy verbatim to keep the trail. */
export const SERIES_SPACES: readonly number[] = [...SERIES_BUCKET_SPACES, SPACE_SERIES_EXPIRY];

export const EXPIRY_PREFIX = Buffer.of(SPACE_SERIES_EXPIRY);
/** Every series header: empty in a shard that has no series. */
export const SERIES_HEADERS_PREFIX = Buffer.of(SPACE_SERIES);

function lp(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

function u64(value: bigint): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(value, 0);
  return out;
}

/** `tag | lp(bucket) | lp(sequence)`: the prefix of one sequence's keys in a space. */
export function seriesPrefix(tag: number, bucket: Buffer, sequence: Buffer): Buffer {
  return namesKey(tag, bucket, sequence);
}

/** `tag | lp(bucket)`: the prefix of every series header of one bucket. */
export function bucketHeadersPrefix(bucket: Buffer): Buffer {
  const out = Buffer.allocUnsafe(3 + bucket.length);
  out[0] = SPACE_SERIES;
  out.writeUInt16BE(bucket.length, 1);
  bucket.copy(out, 3);
  return out;
}

export function headerKey(bucket: Buffer, sequence: Buffer): Buffer {
  return seriesPrefix(SPACE_SERIES, bucket, sequence);
}

export function numberKey(bucket: Buffer, sequence: Buffer, n: bigint): Buffer {
  return Buffer.concat([seriesPrefix(SPACE_SERIES_NUMBER, bucket, sequence), u64(n)]);
}

export function runKey(bucket: Buffer, sequence: Buffer, runIndex: bigint): Buffer {
  return Buffer.concat([seriesPrefix(SPACE_SERIES_RUN, bucket, sequence), u64(runIndex)]);
}

export function openKey(bucket: Buffer, sequence: Buffer, n: bigint): Buffer {
  return Buffer.concat([seriesPrefix(SPACE_SERIES_OPEN, bucket, sequence), u64(n)]);
}

export function expiryKey(expiresMs: number, bucket: Buffer, sequence: Buffer, n: bigint): Buffer {
  return Buffer.concat([EXPIRY_PREFIX, u64(BigInt(expiresMs)), lp(bucket), lp(sequence), u64(n)]);
}

/** The trailing u64 of a number/run/open key. */
export function trailingU64(key: Buffer): bigint {
  return key.readBigUInt64BE(key.length - 8);
}

export interface ExpiryEntry {
  readonly expiresMs: number;
  readonly bucket: Buffer;
  readonly sequence: Buffer;
  readonly n: bigint;
}

export function parseExpiryKey(key: Buffer): ExpiryEntry {
  const expiresMs = Number(key.readBigUInt64BE(1));
  let at = 9;
  const bucketLength = key.readUInt16BE(at);
  const bucket = Buffer.from(key.subarray(at + 2, at + 2 + bucketLength));
  at += 2 + bucketLength;
  const sequenceLength = key.readUInt16BE(at);
  const sequence = Buffer.from(key.subarray(at + 2, at + 2 + sequenceLength));
  at += 2 + sequenceLength;
  return { expiresMs, bucket, sequence, n: key.readBigUInt64BE(at) };
}
