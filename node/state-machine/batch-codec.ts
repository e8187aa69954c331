/**
 * One log entry carrying several client writes (INC and SET) that reached the leader in the
 * same turn of its loop (node/replication/write-batch.ts). Each part is a complete
 * `encodeCommand` image, applied in order with its own result, exactly as if each had its own
 * entry: batching changes what the log costs (one append, one frame, one index per batch
 * instead of per write), never what a client sees.
 *
 * Layout: u8 BATCH_FORMAT | u16 parts | parts x (u32 length | encodeCommand bytes).
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { decodeCommand, type DecodedCommand } from './codec.ts';

export const BATCH_FORMAT = 0xb1;
/** Most writes in one batch entry. */
export const BATCH_PARTS_MAX = 1024;
/** Most bytes of one batch entry (well under the 1 MiB Raft message bound). */
export const BATCH_BYTES_MAX = 256 * 1024;

/** Bytes `encodeBatch` adds per part and per batch. */
export const BATCH_PART_OVERHEAD_BYTES = 4;
export const BATCH_OVERHEAD_BYTES = 3;

export function encodeBatch(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length < 1 || parts.length > BATCH_PARTS_MAX) throw new RangeError(`a batch has 1..${BATCH_PARTS_MAX} parts`);
  let size = BATCH_OVERHEAD_BYTES;
  for (const p of parts) size += BATCH_PART_OVERHEAD_BYTES + p.length;
  if (size > BATCH_BYTES_MAX) throw new RangeError(`a batch of ${size} bytes exceeds ${BATCH_BYTES_MAX}`);
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt8(BATCH_FORMAT, 0);
  at = out.writeUInt16BE(parts.length, at);
  for (const p of parts) {
    at = out.writeUInt32BE(p.length, at);
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The commands of a log entry: the parts of a batch, or the one command of a plain entry. */
export function decodeEntryCommands(bytes: Uint8Array): DecodedCommand[] {
  if (bytes[0] !== BATCH_FORMAT) return [decodeCommand(bytes)];
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < BATCH_OVERHEAD_BYTES) throw corrupt('short header');
  const n = b.readUInt16BE(1);
  if (n < 1 || n > BATCH_PARTS_MAX) throw corrupt('part count');
  const out: DecodedCommand[] = [];
  let at = BATCH_OVERHEAD_BYTES;
  for (let i = 0; i < n; i++) {
    if (at + BATCH_PART_OVERHEAD_BYTES > b.length) throw corrupt('truncated part header');
    const length = b.readUInt32BE(at);
    at += BATCH_PART_OVERHEAD_BYTES;
    if (length < 1 || at + length > b.length) throw corrupt('part length');
    const part = b.subarray(at, at + length);
    if (part[0] === BATCH_FORMAT) throw corrupt('nested batch');
    const decoded = decodeCommand(part);
    if (decoded.command.type !== 'inc' && decoded.command.type !== 'incs' && decoded.command.type !== 'set') throw corrupt(`${decoded.command.type} in a batch`);
    out.push(decoded);
    at += length;
  }
  if (at !== b.length) throw corrupt('trailing bytes');
  return out;
}

function corrupt(what: string): SeqError {
  return new SeqError(ErrorCode.INTERNAL, `corrupt batch entry: ${what}`);
}
