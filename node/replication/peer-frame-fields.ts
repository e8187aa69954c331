/**
 * The field encoding inside peer frames (peer-codec.ts): big-endian u8/u32/u64 (u64 as two u32s,
 * safe integers only), length-prefixed bytes and UTF-8 strings. The writer leaves room for the
 * frame header (`u32 length | u8 kind`, and the header's checksum in a checksummed frame) and
 * fills it in `finish`, with the frame's checksum after the body; the reader reports any
 * truncation or leftover as one PROTOCOL error, so a bad peer never gets past a frame.
 */
import { crc32 } from 'node:zlib';
import { ErrorCode, SeqError } from '../../shared/errors.ts';

const TWO_32 = 2 ** 32;
/** `u32 length | u8 kind` in front of every frame. */
export const HEADER_BYTES = 5;
/**
 * Set in a frame's kind byte: a CRC-32 of the length and kind follows them, and a CRC-32 of
 * everything before it follows the body (both counted in the length). TCP's 16-bit checksum lets
 * through corruption that a NIC, a middlebox or memory adds after it was computed; an entry
 * changed on the way would be written to the follower's log under a fresh checksum of its own
 * and diverge the replicas silently. The header's own check refuses a changed length at once:
 * trusted, a length grown by a flipped bit left the receiver waiting for bytes that were the
 * next frames, while the link stayed up (a test run's follower never caught up).
 */
export const CHECKSUM_FLAG = 0x80;
export const CHECKSUM_BYTES = 4;
/** A checksummed frame's header: `u32 length | u8 kind | u32 crc32 of those five bytes`. */
export const CHECKED_HEADER_BYTES = HEADER_BYTES + CHECKSUM_BYTES;

export class FrameWriter {
  private buf = Buffer.allocUnsafe(256);
  private pos: number;

  /** `checksum`: the frame carries CHECKSUM_FLAG's two checksums. */
  constructor(private readonly checksum = false) {
    this.pos = checksum ? CHECKED_HEADER_BYTES : HEADER_BYTES;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }
  u64(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new SeqError(ErrorCode.INTERNAL, `peer codec: bad u64 ${v}`);
    this.u32(Math.floor(v / TWO_32));
    this.u32(v >>> 0);
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  str(s: string): void {
    // Encoded in place: a Buffer per string (node ids in every message) showed in a heap profile.
    const n = Buffer.byteLength(s, 'utf8');
    this.u32(n);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
  }
  finish(kind: number, maxFrameBytes: number): Buffer {
    const head = this.checksum ? CHECKED_HEADER_BYTES : HEADER_BYTES;
    const body = this.pos - head;
    if (body > maxFrameBytes) throw new SeqError(ErrorCode.INTERNAL, `peer frame of ${body + 1} bytes exceeds ${maxFrameBytes}`);
    if (!this.checksum) {
      this.buf.writeUInt32BE(body + 1, 0);
      this.buf[4] = kind;
      return this.buf.subarray(0, this.pos);
    }
    this.ensure(CHECKSUM_BYTES);
    checkedHeader(this.buf, body, kind);
    this.buf.writeUInt32BE(crc32(this.buf.subarray(0, this.pos)), this.pos);
    return this.buf.subarray(0, this.pos + CHECKSUM_BYTES);
  }
}

export class FrameReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw bad('truncated field');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): number {
    const v = this.u32() * TWO_32 + this.u32();
    if (!Number.isSafeInteger(v)) throw bad('u64 beyond 2^53');
    return v;
  }
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }
  str(): string {
    // Straight from the frame: two copies per string (node ids in every message) showed in a heap profile.
    const n = this.u32();
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  end(): void {
    if (this.pos !== this.buf.length) throw bad('trailing bytes in frame');
  }
}

/** Writes a checksummed frame's header (CHECKED_HEADER_BYTES) for a body of `body` bytes. */
export function checkedHeader(buf: Buffer, body: number, kind: number): void {
  // The length counts what follows it: kind, header checksum, body, frame checksum.
  buf.writeUInt32BE(1 + CHECKSUM_BYTES + body + CHECKSUM_BYTES, 0);
  buf[4] = kind | CHECKSUM_FLAG;
  buf.writeUInt32BE(crc32(buf.subarray(0, HEADER_BYTES)), HEADER_BYTES);
}

export function bad(what: string): SeqError {
  return new SeqError(ErrorCode.PROTOCOL, `peer stream: ${what}`);
}

/** A frame whose bytes do not match its checksum: changed on the way. */
export function corrupt(kind: number): SeqError {
  return new SeqError(ErrorCode.CORRUPT, `peer stream: a frame of kind ${kind} does not match its checksum (changed on the way)`);
}
