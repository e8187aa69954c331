/**
 * Compact binary encoding of a command plus the proposer's wall-clock time. These bytes are what
 * a Raft log entry carries; every replica decodes the same command and the same `timeMs`, so
 * token expiry is decided from time carried in the log, never from a replica's own clock.
 *
 * Layout (big-endian): u8 format (1) | u8 type (1 set, 2 inc, 3 get) | u64 timeMs |
 *   u16 bucketLen | bucket | u16 sequenceLen | sequence | then by type:
 *   set: u64 value;  inc: u32 count | u8 tokenLen (0 = no token) | token;  get: nothing.
 * INCS (type 4) has its own layout after timeMs (incs-codec.ts).
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import {
  INC_COUNT_MAX,
  NAME_BYTES_MAX,
  SEQUENCE_VALUE_MAX,
  TOKEN_BYTES_MAX,
  type Command,
} from './command.ts';
import { CLUSTER_FORMAT, decodeClusterCommand, encodeClusterCommand } from '../ownership/cluster-command.ts';
import { isSeriesCommand } from './series-command.ts';
import { SERIES_FORMAT, decodeSeriesCommand, encodeSeriesCommand } from './series-codec.ts';
import { ByteReader } from './byte-reader.ts';
import { INCS_TYPE_CODE, decodeIncs, encodeIncs } from './incs-codec.ts';

const FORMAT = 1;
const TYPE_CODE = { set: 1, inc: 2, get: 3 } as const;

export interface DecodedCommand {
  readonly command: Command;
  /** Proposer's wall clock (unix ms) when the command was proposed. */
  readonly timeMs: number;
}

export function encodeCommand(command: Command, timeMs: number): Uint8Array {
  if (!Number.isSafeInteger(timeMs) || timeMs < 0) throw new RangeError(`bad timeMs ${timeMs}`);
  if (command.type === 'cluster') return encodeClusterCommand(command, timeMs);
  if (isSeriesCommand(command)) return encodeSeriesCommand(command, timeMs);
  if (command.type === 'incs') return encodeIncs(command, timeMs, FORMAT);
  const tail = tailBytes(command);
  const out = Buffer.allocUnsafe(2 + 8 + 2 + command.bucket.length + 2 + command.sequence.length + tail);
  let at = out.writeUInt8(FORMAT, 0);
  at = out.writeUInt8(TYPE_CODE[command.type], at);
  at = out.writeBigUInt64BE(BigInt(timeMs), at);
  at = writeBytes16(out, at, command.bucket);
  at = writeBytes16(out, at, command.sequence);
  if (command.type === 'set') at = out.writeBigUInt64BE(command.value, at);
  if (command.type === 'inc') {
    at = out.writeUInt32BE(command.count, at);
    const token = command.token ?? Buffer.alloc(0);
    at = out.writeUInt8(token.length, at);
    at += token.copy(out, at);
  }
  if (at !== out.length) throw new Error('encodeCommand: length mismatch');
  return out;
}

/** Decodes and re-validates; malformed bytes throw SeqError INTERNAL (a corrupt log, not a client error). */
export function decodeCommand(bytes: Uint8Array): DecodedCommand {
  if (bytes[0] === CLUSTER_FORMAT) return decodeClusterCommand(bytes);
  if (bytes[0] === SERIES_FORMAT) return decodeSeriesCommand(bytes);
  const reader = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  if (reader.u8() !== FORMAT) throw corrupt('unknown format');
  const typeCode = reader.u8();
  const timeMs = Number(reader.u64());
  if (!Number.isSafeInteger(timeMs)) throw corrupt('timeMs');
  if (typeCode === INCS_TYPE_CODE) return decodeIncs(reader, timeMs);
  const bucket = reader.bytes(reader.u16(), 1, NAME_BYTES_MAX);
  const sequence = reader.bytes(reader.u16(), 1, NAME_BYTES_MAX);
  let command: Command;
  if (typeCode === TYPE_CODE.set) {
    const value = reader.u64();
    if (value > SEQUENCE_VALUE_MAX) throw corrupt('value');
    command = { type: 'set', bucket, sequence, value };
  } else if (typeCode === TYPE_CODE.inc) {
    const count = reader.u32();
    if (count < 1 || count > INC_COUNT_MAX) throw corrupt('count');
    const tokenLength = reader.u8();
    command = { type: 'inc', bucket, sequence, count };
    if (tokenLength > 0) command = { ...command, token: reader.bytes(tokenLength, 1, TOKEN_BYTES_MAX) };
  } else if (typeCode === TYPE_CODE.get) {
    command = { type: 'get', bucket, sequence };
  } else {
    throw corrupt('type');
  }
  if (!reader.done()) throw corrupt('trailing bytes');
  return { command, timeMs };
}

function tailBytes(command: Command): number {
  if (command.type === 'set') return 8;
  if (command.type === 'inc') return 4 + 1 + (command.token?.length ?? 0);
  return 0;
}

export function writeBytes16(out: Buffer, at: number, bytes: Buffer): number {
  const next = out.writeUInt16BE(bytes.length, at);
  return next + bytes.copy(out, next);
}

export function corrupt(what: string): SeqError {
  return new SeqError(ErrorCode.INTERNAL, `corrupt command encoding: ${what}`);
}

export class Reader extends ByteReader {
  constructor(buf: Buffer) {
    super(buf, corrupt);
  }
  bytes(length: number, min: number, max: number): Buffer {
    if (length < min || length > max) throw corrupt('length');
    return this.take(length);
  }
}
