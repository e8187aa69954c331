/**
 * Log encoding of the series commands (codec.ts hands them here by their first byte).
 *
 * Layout (big-endian): u8 SERIES_FORMAT | u8 op | u64 timeMs | u16 len bucket | u16 len sequence
 * (0 for SEQ.LIST) | then by op: reserve: u32 ttl, opt ref, opt token; confirm: u64 n, opt ref;
 * void: u64 n, bytes reason; audit: u64 from, u64 to; seq.info: nothing; seq.retain: u64 numbers;
 * seq.list: u32 count, bytes after. `opt` is u16 length with 0xffff for absent.
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import type { DecodedCommand } from './codec.ts';
import type { SeriesCommand } from './series-command.ts';
import { ByteReader } from './byte-reader.ts';

export const SERIES_FORMAT = 0xa1;
const OPS = ['reserve', 'confirm', 'void', 'audit', 'seq.info', 'seq.retain', 'seq.list'] as const;
const ABSENT = 0xffff;

class Writer {
  private readonly parts: Buffer[] = [];
  u8(v: number): this {
    this.parts.push(Buffer.of(v));
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v, 0);
    this.parts.push(b);
    return this;
  }
  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v, 0);
    this.parts.push(b);
    return this;
  }
  bytes(v: Buffer | undefined): this {
    const head = Buffer.alloc(2);
    head.writeUInt16BE(v === undefined ? ABSENT : v.length, 0);
    this.parts.push(head);
    if (v !== undefined) this.parts.push(v);
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export function encodeSeriesCommand(command: SeriesCommand, timeMs: number): Buffer {
  const w = new Writer().u8(SERIES_FORMAT).u8(OPS.indexOf(command.type)).u64(BigInt(timeMs)).bytes(command.bucket);
  if (command.type === 'seq.list') return w.bytes(Buffer.alloc(0)).u32(command.count).bytes(command.after).done();
  w.bytes(command.sequence);
  switch (command.type) {
    case 'reserve':
      return w.u32(command.ttlSeconds).bytes(command.ref).bytes(command.token).done();
    case 'confirm':
      return w.u64(command.number).bytes(command.ref).done();
    case 'void':
      return w.u64(command.number).bytes(command.reason).done();
    case 'audit':
      return w.u64(command.from).u64(command.to).done();
    case 'seq.info':
      return w.done();
    case 'seq.retain':
      return w.u64(command.numbers).done();
  }
}

/** Throws SeqError INTERNAL on malformed bytes (a corrupt log, not a client error). */
export function decodeSeriesCommand(bytes: Uint8Array): DecodedCommand {
  const r = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  if (r.u8() !== SERIES_FORMAT) throw corrupt('format');
  const type = OPS[r.u8()];
  if (type === undefined) throw corrupt('op');
  const timeMs = Number(r.u64());
  if (!Number.isSafeInteger(timeMs)) throw corrupt('timeMs');
  const bucket = r.required();
  const sequence = r.bytes() ?? Buffer.alloc(0);
  const on = { bucket, sequence };
  let command: SeriesCommand;
  switch (type) {
    case 'reserve': {
      const ttlSeconds = r.u32();
      const ref = r.bytes();
      const token = r.bytes();
      command = { type, ...on, ttlSeconds, ...(ref ? { ref } : {}), ...(token ? { token } : {}) };
      break;
    }
    case 'confirm': {
      const number = r.u64();
      const ref = r.bytes();
      command = { type, ...on, number, ...(ref ? { ref } : {}) };
      break;
    }
    case 'void':
      command = { type, ...on, number: r.u64(), reason: r.required() };
      break;
    case 'audit':
      command = { type, ...on, from: r.u64(), to: r.u64() };
      break;
    case 'seq.info':
      command = { type, ...on };
      break;
    case 'seq.retain':
      command = { type, ...on, numbers: r.u64() };
      break;
    case 'seq.list':
      command = { type, bucket, count: r.u32(), after: r.required() };
      break;
  }
  if (!r.done()) throw corrupt('trailing bytes');
  return { command, timeMs };
}

function corrupt(what: string): SeqError {
  return new SeqError(ErrorCode.INTERNAL, `corrupt series command encoding: ${what}`);
}

class Reader extends ByteReader {
  constructor(buf: Buffer) {
    super(buf, corrupt);
  }
  bytes(): Buffer | undefined {
    const length = this.u16();
    return length === ABSENT ? undefined : this.take(length);
  }
  required(): Buffer {
    const v = this.bytes();
    if (v === undefined) throw corrupt('missing bytes');
    return v;
  }
}
