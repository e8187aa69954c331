/**
 * Value encodings of the series spaces (series-keys.ts): the per-sequence header, the record of
 * one reserved/used/void number, and a run of plain-INC numbers. Fixed-width big-endian fields,
 * texts as u16 length (0xffff: absent) + bytes.
 */
export type NumberState = 'reserved' | 'used' | 'void';
const STATES: readonly NumberState[] = ['reserved', 'used', 'void'];

export interface SeriesHeader {
  /** Sequence value when the series began: numbers 1..base predate it (state `pre`). */
  readonly base: bigint;
  readonly reserved: bigint;
  readonly used: bigint;
  readonly void: bigint;
  /** Plain-INC numbers taken since the series began. */
  readonly inc: bigint;
  /** Next run index, and the oldest run index still kept. */
  readonly runNext: bigint;
  readonly runFirst: bigint;
  /** Keep records of the newest `retain` numbers only; 0 keeps all. */
  readonly retain: bigint;
  /** Every closed record of a number <= prunedThrough has been removed (state `pruned`). */
  readonly prunedThrough: bigint;
  readonly createdMs: number;
}

const HEADER_FIELDS = ['base', 'reserved', 'used', 'void', 'inc', 'runNext', 'runFirst', 'retain', 'prunedThrough'] as const;

export function encodeHeader(h: SeriesHeader): Buffer {
  const out = Buffer.alloc(8 * (HEADER_FIELDS.length + 1));
  HEADER_FIELDS.forEach((field, i) => out.writeBigUInt64BE(h[field], 8 * i));
  out.writeBigUInt64BE(BigInt(h.createdMs), 8 * HEADER_FIELDS.length);
  return out;
}

export function decodeHeader(bytes: Buffer): SeriesHeader {
  if (bytes.length !== 8 * (HEADER_FIELDS.length + 1)) throw new Error(`series header of ${bytes.length} bytes`);
  const field = (i: number): bigint => bytes.readBigUInt64BE(8 * i);
  return {
    base: field(0),
    reserved: field(1),
    used: field(2),
    void: field(3),
    inc: field(4),
    runNext: field(5),
    runFirst: field(6),
    retain: field(7),
    prunedThrough: field(8),
    createdMs: Number(field(9)),
  };
}

export interface NumberRecord {
  readonly state: NumberState;
  readonly reservedMs: number;
  /** When a reservation runs out (kept after it closed, for the audit). */
  readonly expiresMs: number;
  /** When it became used or void (reservedMs while still reserved). */
  readonly changedMs: number;
  readonly ref?: Buffer;
  readonly reason?: Buffer;
}

const ABSENT = 0xffff;

export function encodeNumber(r: NumberRecord): Buffer {
  const head = Buffer.alloc(1 + 24);
  head.writeUInt8(STATES.indexOf(r.state), 0);
  head.writeBigUInt64BE(BigInt(r.reservedMs), 1);
  head.writeBigUInt64BE(BigInt(r.expiresMs), 9);
  head.writeBigUInt64BE(BigInt(r.changedMs), 17);
  return Buffer.concat([head, optional(r.ref), optional(r.reason)]);
}

export function decodeNumber(bytes: Buffer): NumberRecord {
  const state = STATES[bytes[0]!];
  if (state === undefined) throw new Error('bad series number record');
  let at = 25;
  const read = (): Buffer | undefined => {
    const length = bytes.readUInt16BE(at);
    at += 2;
    if (length === ABSENT) return undefined;
    const value = Buffer.from(bytes.subarray(at, at + length));
    at += length;
    return value;
  };
  const ref = read();
  const reason = read();
  return {
    state,
    reservedMs: Number(bytes.readBigUInt64BE(1)),
    expiresMs: Number(bytes.readBigUInt64BE(9)),
    changedMs: Number(bytes.readBigUInt64BE(17)),
    ...(ref !== undefined ? { ref } : {}),
    ...(reason !== undefined ? { reason } : {}),
  };
}

function optional(v: Buffer | undefined): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(v === undefined ? ABSENT : v.length, 0);
  return v === undefined ? head : Buffer.concat([head, v]);
}

/** Consecutive plain-INC numbers start..end, taken between firstMs and lastMs (log time). */
export interface IncRun {
  readonly start: bigint;
  readonly end: bigint;
  readonly firstMs: number;
  readonly lastMs: number;
}

export function encodeRun(run: IncRun): Buffer {
  const out = Buffer.alloc(32);
  out.writeBigUInt64BE(run.start, 0);
  out.writeBigUInt64BE(run.end, 8);
  out.writeBigUInt64BE(BigInt(run.firstMs), 16);
  out.writeBigUInt64BE(BigInt(run.lastMs), 24);
  return out;
}

export function decodeRun(bytes: Buffer): IncRun {
  return {
    start: bytes.readBigUInt64BE(0),
    end: bytes.readBigUInt64BE(8),
    firstMs: Number(bytes.readBigUInt64BE(16)),
    lastMs: Number(bytes.readBigUInt64BE(24)),
  };
}
