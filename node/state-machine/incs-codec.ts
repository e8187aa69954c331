/**
 * Log encoding of INCS (multi-inc.ts), type 4 of codec.ts's format 1:
 *   u8 format | u8 type (4) | u64 timeMs | u16 bucketLen | bucket | u8 tokenLen | token |
 *   u16 part + 1 (0: the whole block) | u16 n | n x (u16 sequenceLen | sequence)
 * A part retry carries its part index: which part it is decides what it takes, so unlike
 * INC's PART it is in the log.
 */
import { NAME_BYTES_MAX, TOKEN_BYTES_MAX, type IncsCommand } from './command.ts';
import { INCS_SEQUENCES_MAX, multiTokenCount } from '../../shared/protocol/part-token.ts';
import { corrupt, writeBytes16, type DecodedCommand, type Reader } from './codec.ts';

export const INCS_TYPE_CODE = 4;

export function encodeIncs(command: IncsCommand, timeMs: number, format: number): Uint8Array {
  let size = 2 + 8 + 2 + command.bucket.length + 1 + command.token.length + 2 + 2;
  for (const sequence of command.sequences) size += 2 + sequence.length;
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt8(format, 0);
  at = out.writeUInt8(INCS_TYPE_CODE, at);
  at = out.writeBigUInt64BE(BigInt(timeMs), at);
  at = writeBytes16(out, at, command.bucket);
  at = out.writeUInt8(command.token.length, at);
  at += command.token.copy(out, at);
  at = out.writeUInt16BE(command.part === undefined ? 0 : command.part + 1, at);
  at = out.writeUInt16BE(command.sequences.length, at);
  for (const sequence of command.sequences) at = writeBytes16(out, at, sequence);
  if (at !== out.length) throw new Error('encodeIncs: length mismatch');
  return out;
}

/** The rest of an INCS after its timeMs, re-validated as parse.ts validates a request. */
export function decodeIncs(reader: Reader, timeMs: number): DecodedCommand {
  const bucket = reader.bytes(reader.u16(), 1, NAME_BYTES_MAX);
  const token = reader.bytes(reader.u8(), 1, TOKEN_BYTES_MAX);
  const partPlusOne = reader.u16();
  const n = reader.u16();
  const k = multiTokenCount(token);
  if (k === undefined) throw corrupt('INCS token');
  if (partPlusOne === 0 ? n !== k : n !== 1 || partPlusOne > k) throw corrupt('INCS parts');
  if (n > INCS_SEQUENCES_MAX) throw corrupt('INCS sequence count');
  const sequences: Buffer[] = [];
  for (let i = 0; i < n; i++) sequences.push(reader.bytes(reader.u16(), 1, NAME_BYTES_MAX));
  if (!reader.done()) throw corrupt('trailing bytes');
  const command: IncsCommand = { type: 'incs', bucket, sequences, token };
  return { command: partPlusOne === 0 ? command : { ...command, part: partPlusOne - 1 }, timeMs };
}
