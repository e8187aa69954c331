/**
 * Key layout. Every key starts with a one-byte space tag; names inside keys are length-prefixed
 * (u16 length, then the bytes), so no two different (bucket, sequence[, token]) tuples can ever
 * produce the same key: bucket "a\0b" + sequence "c" and bucket "a" + sequence "\0bc" differ in
 * their first length field. Meta keys are the tag plus an ASCII name.
 *
 *   0x00 name                         -> u64 meta value
 *   0x01 lp(bucket) lp(sequence)      -> u64 sequence value
 *   0x02 lp(bucket) lp(sequence) lp(token) -> token record (tokens.ts)
 *   0x03 u64 serial                   -> token key (eviction order, oldest first)
 *   0x04 u64 time ms u64 serial       -> token key (held off the order, token rules 2: tokens.ts)
 */
export const SPACE_META = 0x00;
export const SPACE_SEQUENCE = 0x01;
export const SPACE_TOKEN = 0x02;
export const SPACE_TOKEN_ORDER = 0x03;
/** Token rules 2: recent tokens held off the eviction order until they are old (tokens.ts). */
export const SPACE_TOKEN_HELD = 0x04;

export const META = {
  /** Last log index applied (Raft); 0 in single-node mode. */
  appliedIndex: metaKey('appliedIndex'),
  /** Number of distinct sequences ever set or incremented. */
  sequences: metaKey('sequences'),
  /** Number of remembered exactly-once tokens. */
  tokens: metaKey('tokens'),
  /** Serial for the next remembered token (eviction order). */
  tokenSerial: metaKey('tokenSerial'),
  /** State-machine clock: the largest command timeMs applied so far (never goes back). */
  clockMs: metaKey('clockMs'),
  /** Largest embedded time of any timed token evicted so far (the TOKEN_EXPIRED fence). */
  evictedTimedMaxMs: metaKey('evictedTimedMaxMs'),
  /** Token retention set through the log (CLUSTER TOKENOPTIONS); 0: never set (token-options.ts). */
  tokenRetentionMs: metaKey('tokenRetentionMs'),
  /** Token bound set through the log (CLUSTER TOKENOPTIONS); 0: never set. */
  tokensMax: metaKey('tokensMax'),
  /** Version of the token eviction rules set through the log (CLUSTER TOKENRULES); 0: never set (token-options.ts). */
  tokenRules: metaKey('tokenRules'),
  /** Of `tokens`, those held off the eviction order (token rules 2, tokens.ts): beyond the bound. */
  tokensHeld: metaKey('tokensHeld'),
} as const;

export function metaKey(name: string): Buffer {
  return Buffer.concat([Buffer.of(SPACE_META), Buffer.from(name, 'ascii')]);
}

export function sequenceKey(bucket: Buffer, sequence: Buffer): Buffer {
  return namesKey(SPACE_SEQUENCE, bucket, sequence);
}

export function tokenKey(bucket: Buffer, sequence: Buffer, token: Buffer): Buffer {
  return namesKey(SPACE_TOKEN, bucket, sequence, token);
}

/**
 * `tag | lp(a) | lp(b) [| lp(c)]` in one allocation: every INC builds several such keys, and
 * concatenating length-prefixed pieces was a visible share of the apply cost.
 */
export function namesKey(tag: number, a: Buffer, b: Buffer, c?: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + a.length + b.length + (c === undefined ? 0 : 2 + c.length));
  out[0] = tag;
  let at = putLengthPrefixed(out, 1, a);
  at = putLengthPrefixed(out, at, b);
  if (c !== undefined) putLengthPrefixed(out, at, c);
  return out;
}

function putLengthPrefixed(out: Buffer, at: number, bytes: Buffer): number {
  if (bytes.length > 0xffff) throw new RangeError(`a key part of ${bytes.length} bytes`);
  out[at] = bytes.length >>> 8;
  out[at + 1] = bytes.length & 0xff;
  bytes.copy(out, at + 2);
  return at + 2 + bytes.length;
}

export const TOKEN_ORDER_PREFIX = Buffer.of(SPACE_TOKEN_ORDER);

export function tokenOrderKey(serial: bigint): Buffer {
  const key = Buffer.alloc(9);
  key[0] = SPACE_TOKEN_ORDER;
  key.writeBigUInt64BE(serial, 1);
  return key;
}

export const TOKEN_HELD_PREFIX = Buffer.of(SPACE_TOKEN_HELD);

/** `04 | u64 timed ms | u64 serial`: held tokens in the order they become old. */
export function tokenHeldKey(timedMs: number, serial: bigint): Buffer {
  const key = Buffer.alloc(17);
  key[0] = SPACE_TOKEN_HELD;
  key.writeUInt32BE(Math.floor(timedMs / 0x1_0000_0000), 1);
  key.writeUInt32BE(timedMs % 0x1_0000_0000, 5);
  key.writeBigUInt64BE(serial, 9);
  return key;
}

/** The timed ms of a tokenHeldKey. */
export function heldKeyMs(key: Buffer): number {
  return key.readUInt32BE(1) * 0x1_0000_0000 + key.readUInt32BE(5);
}

export function u64(value: bigint): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(value, 0);
  return out;
}

export function readU64(bytes: Buffer | undefined): bigint {
  if (bytes === undefined) return 0n;
  if (bytes.length !== 8) throw new Error(`expected 8 bytes, got ${bytes.length}`);
  return bytes.readBigUInt64BE(0);
}
