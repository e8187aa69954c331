/**
 * The client password (`--requirepass`). Candidates are compared by their SHA-256 digests with
 * crypto.timingSafeEqual: equal-length inputs, so neither the password's length nor the position
 * of the first differing byte shows in the time a wrong AUTH takes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export class Password {
  private readonly digest: Buffer;

  constructor(password: string | Buffer) {
    const bytes = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
    if (bytes.length === 0) throw new RangeError('a password must not be empty');
    this.digest = sha256(bytes);
  }

  matches(candidate: Buffer | string): boolean {
    const bytes = typeof candidate === 'string' ? Buffer.from(candidate, 'utf8') : candidate;
    return timingSafeEqual(this.digest, sha256(bytes));
  }
}

function sha256(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}
