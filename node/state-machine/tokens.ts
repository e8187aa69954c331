/**
 * The exactly-once token table. A token is remembered per (bucket, sequence, token) with the
 * COUNT it came with and the reply it got. Tokens are evicted oldest first, when older than the
 * retention window or beyond the count bound, and only ever by applying a command with the log's
 * clock, so every replica evicts exactly the same tokens.
 *
 * A forgotten token cannot be told apart from a new one, unless it is *timed*: `<unix ms>-<rest>`
 * (what SeqDB's client and router generate). An unknown timed token whose time is older than
 * (clock - retention), or not newer than the newest time of any timed token already evicted,
 * gets TOKEN_EXPIRED instead of a fresh number; one whose time is more than tokenFutureMsMax
 * ahead of the clock gets TOKEN_AHEAD (nothing taken), so the fence never moves far ahead; and
 * since token rules 2 (options.ts TOKEN_RULES_LATEST) a token that is due for eviction while it is
 * still recent (ahead of the clock, or less than TOKEN_KEEP_BEHIND_MS behind it) is held off the
 * eviction order instead, beyond the bound, and evicted once it is old: so the fence stays that
 * far behind the clock, and the other tokens are still evicted strictly oldest first.
 */
import { ErrorCode } from '../../shared/errors.ts';
import { errorResult, type CommandResult } from './command.ts';
import { getMeta, setMeta, addMeta } from './meta.ts';
import { TOKEN_HELD_PREFIX, TOKEN_ORDER_PREFIX, heldKeyMs, tokenHeldKey, tokenOrderKey } from './keys.ts';
import type { KvEntry, KvTxn } from './kv.ts';
import { TOKEN_KEEP_BEHIND_MS, TOKEN_RULES_KEEP_RECENT, type ResolvedOptions } from './options.ts';
import { tokenRules } from './token-options.ts';

export interface TokenRecord {
  /** Log clock when the token was first applied. */
  readonly createdMs: number;
  readonly count: number;
  /** The reply the first INC got: the last number of its block. */
  readonly value: bigint;
  readonly serial: bigint;
  /** Embedded time if the token was timed when first seen. */
  readonly timedMs?: number;
}

/**
 * A record's head. An INCS token's record (multi-inc.ts) has a tail after it: k x (u64 value |
 * u32 sequence hash); eviction, slot moves and restore only read or re-serial the head.
 */
export const RECORD_HEAD_BYTES = 8 + 4 + 8 + 8 + 1 + 8;
export const RECORD_PART_BYTES = 8 + 4;
/** Most digits of a timed token's time (15 digits stay exact in a double). */
const TIMED_DIGITS_MAX = 15;
const DIGIT_0 = 0x30;
const DASH = 0x2d;

/** The embedded unix-ms time of a `<1-15 decimal digits>-<anything>` token, or undefined. */
export function tokenTimeMs(token: Uint8Array): number | undefined {
  let timeMs = 0;
  for (let i = 0; i < token.length && i <= TIMED_DIGITS_MAX; i++) {
    const byte = token[i]!;
    if (byte === DASH) return i === 0 ? undefined : timeMs;
    const digit = byte - DIGIT_0;
    if (digit < 0 || digit > 9) return undefined;
    timeMs = timeMs * 10 + digit;
  }
  return undefined;
}

export function readToken(txn: KvTxn, key: Buffer): TokenRecord | undefined {
  const bytes = txn.get(key);
  return bytes === undefined ? undefined : decodeRecord(bytes);
}

/**
 * Why an unknown token is refused, nothing taken: TOKEN_EXPIRED if it may be one already
 * forgotten, TOKEN_AHEAD if it is timed further ahead of the log clock than tokenFutureMsMax.
 * Null: a new token.
 */
export function newTokenRefusal(txn: KvTxn, token: Buffer, nowMs: number, options: ResolvedOptions): CommandResult | null {
  const timedMs = tokenTimeMs(token);
  if (timedMs === undefined) return null;
  if (timedMs > nowMs + options.tokenFutureMsMax) {
    return errorResult(ErrorCode.TOKEN_AHEAD, `ID token time is ${timedMs - nowMs} ms ahead of the shard's clock (at most ${options.tokenFutureMsMax}): check the clock of whoever made it`);
  }
  // Rules 2 keep every token until it is TOKEN_KEEP_BEHIND_MS old, whatever the retention: an
  // unknown one younger than that was never forgotten (a review: retention 3 s refused a router's
  // token retried 4 s after it was made).
  const retentionMs = holding(txn, options) ? Math.max(options.tokenRetentionMs, TOKEN_KEEP_BEHIND_MS) : options.tokenRetentionMs;
  if (timedMs < nowMs - retentionMs || timedMs <= Number(getMeta(txn, 'evictedTimedMaxMs'))) {
    return errorResult(ErrorCode.TOKEN_EXPIRED, 'ID token expired: older than the retention window or already evicted');
  }
  return null;
}

/** Remembers a new token, then evicts the oldest while over the count bound. */
export function rememberToken(
  txn: KvTxn,
  key: Buffer,
  entry: { token: Buffer; count: number; value: bigint },
  nowMs: number,
  options: ResolvedOptions,
  tail?: Buffer,
): void {
  const serial = getMeta(txn, 'tokenSerial');
  setMeta(txn, 'tokenSerial', serial + 1n);
  // Callers refused a token too far ahead first (newTokenRefusal): every timed token is kept timed.
  const timedMs = tokenTimeMs(entry.token);
  const record: TokenRecord = { createdMs: nowMs, count: entry.count, value: entry.value, serial };
  const head = encodeRecord(timedMs === undefined ? record : { ...record, timedMs });
  txn.put(key, tail === undefined ? head : Buffer.concat([head, tail]));
  txn.put(tokenOrderKey(serial), key);
  let tokens = addMeta(txn, 'tokens', 1n);
  if (tokens <= BigInt(options.tokensMax)) return;
  const hold = holding(txn, options);
  let held = hold ? getMeta(txn, 'tokensHeld') : 0n;
  for (let i = 0; tokens - held > BigInt(options.tokensMax) && i < options.evictionsPerCommandMax; i++) {
    const oldest = txn.first(TOKEN_ORDER_PREFIX);
    if (oldest === undefined) break;
    if (hold) {
      // Never the token just remembered: the bound is exceeded by one until the next write.
      if (oldest.key.readBigUInt64BE(1) >= serial) break;
      if (holdIfRecent(txn, oldest, nowMs)) {
        held++;
        continue;
      }
    }
    evict(txn, oldest);
    tokens--;
  }
}

/** Evicts tokens older than the retention window, oldest first, at most a bounded number. */
export function evictExpiredTokens(txn: KvTxn, nowMs: number, options: ResolvedOptions): number {
  const cutoffMs = nowMs - options.tokenRetentionMs;
  let evicted = 0;
  let hold: boolean | undefined;
  for (let i = 0; i < options.evictionsPerCommandMax; i++) {
    const oldest = txn.first(TOKEN_ORDER_PREFIX);
    if (oldest === undefined) break;
    const createdMs = oldestCreatedMs(txn, oldest);
    if (createdMs !== undefined && createdMs >= cutoffMs) break;
    hold ??= holding(txn, options);
    if (hold && holdIfRecent(txn, oldest, nowMs)) continue;
    evict(txn, oldest);
    evicted++;
  }
  return evicted + releaseHeld(txn, nowMs, options);
}

/**
 * Token rules 2 (options.ts): whether a token due for eviction while still recent is held instead.
 *
 * Why held off the order and not moved to its back (an earlier version): a moved token counted as
 * a later write, so a token behind it (an opaque one, never recent) was evicted after about half
 * the bound's later writes instead of all of them (a review); moving them every pass was costly.
 * A held token is beyond the bound and never moves again; the order stays strictly oldest first.
 */
function holding(txn: KvTxn, options: ResolvedOptions): boolean {
  return tokenRules(txn, options) >= TOKEN_RULES_KEEP_RECENT;
}

/** Holds the token of `order` if it is recent: off the order, under its time. Whether it did. */
function holdIfRecent(txn: KvTxn, order: KvEntry, nowMs: number): boolean {
  const bytes = txn.get(order.value);
  if (bytes === undefined) return false; // a dangling order entry: evict drops it
  const timedMs = recordTimedMs(bytes);
  if (timedMs === undefined || timedMs <= nowMs - TOKEN_KEEP_BEHIND_MS) return false;
  txn.remove(order.key);
  txn.put(tokenHeldKey(timedMs, order.key.readBigUInt64BE(1)), order.value);
  addMeta(txn, 'tokensHeld', 1n);
  return true;
}

/** Evicts the held tokens that are old now, oldest first, at most a bounded number. */
function releaseHeld(txn: KvTxn, nowMs: number, options: ResolvedOptions): number {
  let released = 0;
  if (getMeta(txn, 'tokensHeld') === 0n) return 0; // a meta read, cheaper than opening a cursor
  while (released < options.evictionsPerCommandMax) {
    const held = txn.first(TOKEN_HELD_PREFIX);
    if (held === undefined || heldKeyMs(held.key) > nowMs - TOKEN_KEEP_BEHIND_MS) break;
    addMeta(txn, 'tokensHeld', -1n);
    evict(txn, held);
    released++;
  }
  return released;
}

/**
 * Slot moves (node/ownership/slot-data.ts): remembers a token record exported by another shard,
 * under a fresh local serial (it joins the eviction order as the newest; retention is a minimum,
 * so keeping it a little longer is harmless).
 */
export function adoptTokenRecord(txn: KvTxn, key: Buffer, recordBytes: Buffer): void {
  forgetTokenRecord(txn, key);
  const serial = getMeta(txn, 'tokenSerial');
  setMeta(txn, 'tokenSerial', serial + 1n);
  const head = encodeRecord({ ...decodeRecord(recordBytes), serial });
  txn.put(key, Buffer.concat([head, recordBytes.subarray(RECORD_HEAD_BYTES)]));
  txn.put(tokenOrderKey(serial), key);
  addMeta(txn, 'tokens', 1n);
}

/** Slot moves: drops a token record and its eviction-order entry (the slot left this shard). */
export function forgetTokenRecord(txn: KvTxn, key: Buffer): void {
  const record = readToken(txn, key);
  if (record === undefined) return;
  txn.remove(key);
  txn.remove(tokenOrderKey(record.serial));
  if (record.timedMs !== undefined) {
    const heldKey = tokenHeldKey(record.timedMs, record.serial);
    if (txn.get(heldKey) !== undefined) {
      txn.remove(heldKey);
      addMeta(txn, 'tokensHeld', -1n);
    }
  }
  addMeta(txn, 'tokens', -1n);
}

/** Forgets the token an order (or held) entry points at, and the entry; raises the fence. */
function evict(txn: KvTxn, order: KvEntry): void {
  const bytes = txn.get(order.value);
  txn.remove(order.key);
  if (bytes === undefined) return;
  txn.remove(order.value);
  addMeta(txn, 'tokens', -1n);
  // Only the embedded time matters here (the fence); at the token bound every INC evicts one.
  const timedMs = recordTimedMs(bytes);
  if (timedMs !== undefined && BigInt(timedMs) > getMeta(txn, 'evictedTimedMaxMs')) {
    setMeta(txn, 'evictedTimedMaxMs', BigInt(timedMs));
  }
}

function encodeRecord(record: TokenRecord): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEAD_BYTES);
  let at = writeMs(out, record.createdMs, 0);
  at = out.writeUInt32BE(record.count, at);
  at = out.writeBigUInt64BE(record.value, at);
  at = out.writeBigUInt64BE(record.serial, at);
  at = out.writeUInt8(record.timedMs === undefined ? 0 : 1, at);
  writeMs(out, record.timedMs ?? 0, at);
  return out;
}

/** A u64 of a safe-integer time without going through BigInt (this runs for every INC). */
function writeMs(out: Buffer, ms: number, at: number): number {
  out.writeUInt32BE(Math.floor(ms / 0x1_0000_0000), at);
  return out.writeUInt32BE(ms % 0x1_0000_0000, at + 4);
}

/**
 * Creation times of the oldest token by its eviction-order entry object. Every INC checks the
 * oldest token; the transaction's `first` window (first-window.ts) returns the same entry object
 * until that entry is written, removed or preceded, and a token record never changes while its order entry exists (adopt and
 * forget replace both), so the record is read once per transaction instead of once per INC.
 */
const createdMsByOrderEntry = new WeakMap<KvEntry, number>();

function oldestCreatedMs(txn: KvTxn, oldest: KvEntry): number | undefined {
  const known = createdMsByOrderEntry.get(oldest);
  if (known !== undefined) return known;
  const bytes = txn.get(oldest.value);
  if (bytes === undefined) return undefined;
  const createdMs = recordCreatedMs(bytes);
  createdMsByOrderEntry.set(oldest, createdMs);
  return createdMs;
}

/** The inverse of writeMs. */
function readMs(bytes: Buffer, at: number): number {
  return bytes.readUInt32BE(at) * 0x1_0000_0000 + bytes.readUInt32BE(at + 4);
}

function checked(bytes: Buffer): Buffer {
  if (bytes.length < RECORD_HEAD_BYTES || (bytes.length - RECORD_HEAD_BYTES) % RECORD_PART_BYTES !== 0) throw new Error(`token record of ${bytes.length} bytes`);
  return bytes;
}

function recordTimedMs(bytes: Buffer): number | undefined {
  return checked(bytes)[28] === 1 ? readMs(bytes, 29) : undefined;
}

function recordCreatedMs(bytes: Buffer): number {
  return readMs(checked(bytes), 0);
}

export function decodeRecord(bytes: Buffer): TokenRecord {
  const record: TokenRecord = {
    createdMs: recordCreatedMs(bytes),
    count: bytes.readUInt32BE(8),
    value: bytes.readBigUInt64BE(12),
    serial: bytes.readBigUInt64BE(20),
  };
  const timedMs = recordTimedMs(bytes);
  return timedMs === undefined ? record : { ...record, timedMs };
}
