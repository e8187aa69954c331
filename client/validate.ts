import { invalidArgument } from './errors.ts';
import { TOKEN_BYTES_MAX } from './token.ts';

/** A bucket or sequence name: text (sent as UTF-8) or raw bytes, 1..256 bytes. */
export type Name = string | Buffer;

export const NAME_BYTES_MAX = 256;
export const INC_COUNT_MAX = 1_000_000;
export const SEQUENCE_VALUE_MAX = 9223372036854775807n;

export function checkName(name: Name, what: 'bucket' | 'sequence'): void {
  if (typeof name !== 'string' && !Buffer.isBuffer(name)) throw invalidArgument(`${what} must be a string or Buffer`);
  const bytes = typeof name === 'string' ? Buffer.byteLength(name) : name.length;
  if (bytes < 1 || bytes > NAME_BYTES_MAX) throw invalidArgument(`${what} must be 1..${NAME_BYTES_MAX} bytes, got ${bytes}`);
}

export function checkCount(count: number): number {
  if (!Number.isInteger(count) || count < 1 || count > INC_COUNT_MAX) {
    throw invalidArgument(`count must be an integer in 1..${INC_COUNT_MAX}, got ${String(count)}`);
  }
  return count;
}

export function checkValue(value: bigint | number): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw invalidArgument(`value must be a safe integer or a bigint, got ${value}`);
  }
  if (typeof value !== 'number' && typeof value !== 'bigint') throw invalidArgument('value must be a bigint or number');
  const big = BigInt(value);
  if (big < 0n || big > SEQUENCE_VALUE_MAX) throw invalidArgument(`value must be in 0..${SEQUENCE_VALUE_MAX}`);
  return big;
}

export function checkToken(token: string): void {
  if (typeof token !== 'string') throw invalidArgument('id must be a string');
  const bytes = Buffer.byteLength(token);
  if (bytes < 1 || bytes > TOKEN_BYTES_MAX) throw invalidArgument(`id must be 1..${TOKEN_BYTES_MAX} bytes, got ${bytes}`);
}
