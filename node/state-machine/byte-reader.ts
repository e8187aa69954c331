/**
 * A bounds-checked cursor over a log entry's bytes. Log entries are our own encoding, so a short
 * or malformed one means corruption: every read past the end throws the caller's corrupt error
 * instead of returning garbage.
 */
import type { SeqError } from '../../shared/errors.ts';

export class ByteReader {
  private at = 0;
  constructor(
    protected readonly buf: Buffer,
    protected readonly corrupt: (what: string) => SeqError,
  ) {}

  protected need(n: number): number {
    if (this.at + n > this.buf.length) throw this.corrupt('truncated');
    const at = this.at;
    this.at += n;
    return at;
  }
  u8(): number {
    return this.buf.readUInt8(this.need(1));
  }
  u16(): number {
    return this.buf.readUInt16BE(this.need(2));
  }
  u32(): number {
    return this.buf.readUInt32BE(this.need(4));
  }
  u64(): bigint {
    return this.buf.readBigUInt64BE(this.need(8));
  }
  /** Copies, so decoded commands never alias the log's buffer. */
  take(length: number): Buffer {
    const at = this.need(length);
    return Buffer.from(this.buf.subarray(at, at + length));
  }
  done(): boolean {
    return this.at === this.buf.length;
  }
}
