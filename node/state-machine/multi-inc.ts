/**
 * INCS: one number of each of k sequences of one bucket in one command, and the retry of one of
 * its parts. Routers send it for k concurrent plain INCs of different sequences (router/
 * inc-coalescer.ts), so a shard decodes, logs and applies one command and keeps one token record
 * instead of k.
 *
 * The token record (key: bucket, the empty sequence name, token; no sequence is empty) holds every
 * part's number and a hash of its sequence. Any part may be taken before the block: a router that
 * gave up tells member i to retry with `INC bucket seq_i ID <token> PART i/k`, and the block may
 * still be in a log and apply later. So each part is taken at most once, by whichever comes first:
 * - the block takes every part not taken yet, and answers every part's number;
 * - a part retry answers its number if taken, else takes one number of its sequence alone.
 * A part named with another sequence than the one recorded is TOKEN_MISMATCH, as is a record of
 * another k. A block that would overflow any of its sequences takes nothing (OVERFLOW).
 */
import { ErrorCode } from '../../shared/errors.ts';
import { multiTokenCount } from '../../shared/protocol/part-token.ts';
import { SEQUENCE_VALUE_MAX, errorResult, intResult, type CommandResult, type IncsCommand } from './command.ts';
import { readU64, sequenceKey, tokenKey } from './keys.ts';
import type { KvTxn } from './kv.ts';
import type { ResolvedOptions } from './options.ts';
import { writeSequenceKnown } from './sequence-value.ts';
import { bucketHasSeries, noteIncrement } from './series.ts';
import { RECORD_HEAD_BYTES, RECORD_PART_BYTES, decodeRecord, newTokenRefusal, rememberToken } from './tokens.ts';

const NO_SEQUENCE = Buffer.alloc(0);

export function applyIncs(txn: KvTxn, command: IncsCommand, nowMs: number, options: ResolvedOptions): CommandResult {
  const count = multiTokenCount(command.token)!;
  const key = tokenKey(command.bucket, NO_SEQUENCE, command.token);
  const known = txn.get(key);
  let parts: Buffer;
  if (known === undefined) {
    const refused = newTokenRefusal(txn, command.token, nowMs, options);
    if (refused !== null) return refused;
    parts = Buffer.alloc(count * RECORD_PART_BYTES);
  } else {
    if (decodeRecord(known).count !== count) return errorResult(ErrorCode.TOKEN_MISMATCH, 'ID token was used with a different number of parts');
    parts = Buffer.from(known.subarray(RECORD_HEAD_BYTES));
  }
  const indexes = command.part === undefined ? command.sequences.map((_, i) => i) : [command.part];
  // A new record has no part taken: nothing to check, every part to take.
  const mismatch = known === undefined ? null : checkSequences(parts, indexes, command.sequences);
  if (mismatch !== null) return mismatch;
  const missing = known === undefined ? indexes.map((_, n) => n) : indexes.flatMap((i, n) => (partValue(parts, i) === 0n ? [n] : []));
  if (missing.length > 0) {
    const overflow = take(txn, command, indexes, missing, parts);
    if (overflow !== null) return overflow;
    if (known === undefined) rememberToken(txn, key, { token: command.token, count, value: 0n }, nowMs, options, parts);
    else txn.put(key, Buffer.concat([known.subarray(0, RECORD_HEAD_BYTES), parts]));
  }
  if (command.part !== undefined) return intResult(partValue(parts, command.part));
  return { type: 'array', value: indexes.map((i) => partValue(parts, i)) };
}

/** Parts already taken must name the sequence they were taken for. */
function checkSequences(parts: Buffer, indexes: readonly number[], sequences: readonly Buffer[]): CommandResult | null {
  for (let n = 0; n < indexes.length; n++) {
    const i = indexes[n]!;
    if (partValue(parts, i) !== 0n && parts.readUInt32BE(i * RECORD_PART_BYTES + 8) !== hash32(sequences[n]!)) {
      return errorResult(ErrorCode.TOKEN_MISMATCH, `ID token's part ${i} was taken for another sequence`);
    }
  }
  return null;
}

/**
 * Takes one number for each missing part (positions into `indexes`), in part order, into
 * `parts`; writes nothing and returns OVERFLOW if any sequence would pass the maximum.
 */
function take(txn: KvTxn, command: IncsCommand, indexes: readonly number[], missing: readonly number[], parts: Buffer): CommandResult | null {
  // Sequences by their hash (computed for the record anyway), so a repeated one is read once
  // and takes consecutive numbers, without a string per part.
  const byHash = new Map<number, TakeState[]>();
  const states: TakeState[] = [];
  // Only a bucket with a series keeps an audit of plain INCs: asked once, not per part.
  const audited = missing.length === 1 || bucketHasSeries(txn, command.bucket);
  const taken: { sequence: Buffer; value: bigint }[] = [];
  for (const n of missing) {
    const i = indexes[n]!;
    const sequence = command.sequences[n]!;
    const hash = hash32(sequence);
    let same = byHash.get(hash);
    let state = same?.find((s) => s.sequence.equals(sequence));
    if (state === undefined) {
      const key = sequenceKey(command.bucket, sequence);
      const bytes = txn.get(key);
      state = { sequence, key, value: readU64(bytes), existed: bytes !== undefined };
      states.push(state);
      if (same === undefined) byHash.set(hash, (same = []));
      same.push(state);
    }
    if (state.value + 1n > SEQUENCE_VALUE_MAX) return errorResult(ErrorCode.OVERFLOW, 'increment would overflow');
    state.value += 1n;
    parts.writeBigUInt64BE(state.value, i * RECORD_PART_BYTES);
    parts.writeUInt32BE(hash, i * RECORD_PART_BYTES + 8);
    if (audited) taken.push({ sequence, value: state.value });
  }
  for (const state of states) writeSequenceKnown(txn, state.key, state.value, state.existed);
  for (const { sequence, value } of taken) noteIncrement(txn, command.bucket, sequence, value, value); // series audit
  return null;
}

interface TakeState {
  readonly sequence: Buffer;
  readonly key: Buffer;
  value: bigint;
  readonly existed: boolean;
}

/** Part i's number, 0 while not taken (a taken number is at least 1). */
function partValue(parts: Buffer, i: number): bigint {
  return parts.readBigUInt64BE(i * RECORD_PART_BYTES);
}

/** FNV-1a: tells a part's sequence from another one; not a security boundary. */
function hash32(bytes: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}
