/**
 * Gapless legal series (issue 12): RESERVE / CONFIRM / VOID / SEQ.RETAIN, the expiry of
 * reservations, and the recording of plain INCs on a series. Deterministic like apply.ts: the
 * only clock is `nowMs`, the log clock, so every replica reaches the same states.
 *
 * A sequence becomes a series at its first RESERVE or SEQ.RETAIN; numbers taken before that
 * (1..base) are reported as `pre`. From then on every number is in exactly one state: reserved,
 * used, void (by VOID, or `expired` when its TTL ran out) or inc (plain INC, kept as runs).
 * Numbers come from the sequence's one counter, so INC and RESERVE interleave with no repeat or
 * gap; SET on a series is refused. A due reservation is voided by a committed apply: a bounded
 * sweep on every write (oldest expiry first), and at once when a command touches it.
 */
import { ErrorCode } from '../../shared/errors.ts';
import { OK_RESULT, SEQUENCE_VALUE_MAX, errorResult, intResult, type CommandResult } from './command.ts';
import { readU64, sequenceKey, tokenKey, u64 } from './keys.ts';
import type { KvReader, KvTxn } from './kv.ts';
import { addMeta, getMeta } from './meta.ts';
import type { ResolvedOptions } from './options.ts';
import type { ConfirmCommand, ReserveCommand, SeqRetainCommand, VoidCommand } from './series-command.ts';
import {
  EXPIRY_PREFIX,
  SERIES_HEADERS_PREFIX,
  SPACE_SERIES_NUMBER,
  expiryKey,
  bucketHeadersPrefix,
  headerKey,
  numberKey,
  openKey,
  parseExpiryKey,
  runKey,
  seriesPrefix,
  trailingU64,
} from './series-keys.ts';
import {
  decodeHeader,
  decodeNumber,
  decodeRun,
  encodeHeader,
  encodeNumber,
  encodeRun,
  type NumberRecord,
  type SeriesHeader,
} from './series-record.ts';
import { newTokenRefusal, readToken, rememberToken } from './tokens.ts';
import { ownershipRefusal } from '../ownership/ownership.ts';

/** Consecutive plain INCs within this much log time share one run record (audit time precision). */
export const INC_RUN_WINDOW_MS = 1000;
/** Most due reservations one apply voids in its sweep: every apply stays short. */
export const EXPIRY_SWEEP_MAX = 64;
/** Most due index entries of frozen or not-owned buckets one sweep steps over. */
export const EXPIRY_SKIP_MAX = 256;
/** Most records one command on a series prunes under its retention. */
export const PRUNE_MAX = 64;
/** A RESERVE's exactly-once token record carries COUNT 0: an INC can never have it. */
const RESERVE_TOKEN_COUNT = 0;
const EXPIRED_REASON = Buffer.from('expired');

export function readHeader(kv: KvReader, bucket: Buffer, sequence: Buffer): SeriesHeader | undefined {
  const bytes = kv.get(headerKey(bucket, sequence));
  return bytes === undefined ? undefined : decodeHeader(bytes);
}

function writeHeader(txn: KvTxn, bucket: Buffer, sequence: Buffer, header: SeriesHeader): void {
  txn.put(headerKey(bucket, sequence), encodeHeader(header));
}

export function sequenceValue(kv: KvReader, bucket: Buffer, sequence: Buffer): bigint {
  return readU64(kv.get(sequenceKey(bucket, sequence)));
}

export function readNumber(kv: KvReader, bucket: Buffer, sequence: Buffer, n: bigint): NumberRecord | undefined {
  const bytes = kv.get(numberKey(bucket, sequence, n));
  return bytes === undefined ? undefined : decodeNumber(bytes);
}

function startSeries(txn: KvTxn, bucket: Buffer, sequence: Buffer, nowMs: number): SeriesHeader {
  const header: SeriesHeader = {
    base: sequenceValue(txn, bucket, sequence),
    reserved: 0n,
    used: 0n,
    void: 0n,
    inc: 0n,
    runNext: 0n,
    runFirst: 0n,
    retain: 0n,
    prunedThrough: 0n,
    createdMs: nowMs,
  };
  writeHeader(txn, bucket, sequence, header);
  return header;
}

/** SET on a series would reuse or skip numbers: refused. Null when SET may proceed. */
export function seriesRefusesSet(kv: KvReader, bucket: Buffer, sequence: Buffer): CommandResult | null {
  if (kv.get(headerKey(bucket, sequence)) === undefined) return null;
  return errorResult(ErrorCode.SERIES_SET, 'SERIES SET is refused on a series: its numbers are never reused or skipped');
}

export function applyReserve(txn: KvTxn, command: ReserveCommand, nowMs: number, options: ResolvedOptions): CommandResult {
  const { bucket, sequence, token } = command;
  if (token !== undefined) {
    const known = readToken(txn, tokenKey(bucket, sequence, token));
    if (known !== undefined) {
      if (known.count !== RESERVE_TOKEN_COUNT) return errorResult(ErrorCode.TOKEN_MISMATCH, 'ID token was used with a different command');
      return intResult(known.value);
    }
    const refused = newTokenRefusal(txn, token, nowMs, options);
    if (refused !== null) return refused;
  }
  const key = sequenceKey(bucket, sequence);
  const before = txn.get(key);
  const n = readU64(before) + 1n;
  // Refused before anything is written: a refused RESERVE must not make the sequence a series.
  if (n > SEQUENCE_VALUE_MAX) return errorResult(ErrorCode.OVERFLOW, 'increment would overflow');
  const header = readHeader(txn, bucket, sequence) ?? startSeries(txn, bucket, sequence, nowMs);
  if (before === undefined) addMeta(txn, 'sequences', 1n);
  txn.put(key, u64(n));
  const expiresMs = nowMs + command.ttlSeconds * 1000;
  const record: NumberRecord = { state: 'reserved', reservedMs: nowMs, expiresMs, changedMs: nowMs, ...(command.ref ? { ref: command.ref } : {}) };
  txn.put(numberKey(bucket, sequence, n), encodeNumber(record));
  txn.put(openKey(bucket, sequence, n), u64(BigInt(expiresMs)));
  txn.put(expiryKey(expiresMs, bucket, sequence, n), Buffer.alloc(0));
  writeHeader(txn, bucket, sequence, prune(txn, bucket, sequence, { ...header, reserved: header.reserved + 1n }));
  if (token !== undefined) {
    rememberToken(txn, tokenKey(bucket, sequence, token), { token, count: RESERVE_TOKEN_COUNT, value: n }, nowMs, options);
  }
  return intResult(n);
}

export function applyConfirm(txn: KvTxn, command: ConfirmCommand, nowMs: number): CommandResult {
  const found = touchNumber(txn, command.bucket, command.sequence, command.number, nowMs);
  if ('error' in found) return found.error;
  const { record } = found;
  if (record.state === 'void') {
    const why = record.reason?.toString('latin1') ?? '';
    return errorResult(ErrorCode.NUMBER_VOID, `VOIDED number ${command.number} is void (${why})`);
  }
  if (record.state === 'used') {
    // A retried CONFIRM (same or no REF) is answered OK: CONFIRM is idempotent.
    if (command.ref === undefined || (record.ref !== undefined && record.ref.equals(command.ref))) return OK_RESULT;
    return errorResult(ErrorCode.NUMBER_USED, `USED number ${command.number} is already used with another REF`);
  }
  const ref = command.ref ?? record.ref;
  close(txn, command.bucket, command.sequence, command.number, record, { ...record, state: 'used', changedMs: nowMs, ...(ref ? { ref } : {}) });
  return OK_RESULT;
}

export function applyVoid(txn: KvTxn, command: VoidCommand, nowMs: number): CommandResult {
  const found = touchNumber(txn, command.bucket, command.sequence, command.number, nowMs);
  if ('error' in found) return found.error;
  const { record } = found;
  // Used numbers stay used: the law corrects an issued invoice by a credit note, not by voiding it.
  if (record.state === 'used') return errorResult(ErrorCode.NUMBER_USED, `USED number ${command.number} is used; used numbers stay used`);
  if (record.state === 'void') return OK_RESULT; // idempotent; the first reason stays
  close(txn, command.bucket, command.sequence, command.number, record, { ...record, state: 'void', changedMs: nowMs, reason: command.reason });
  return OK_RESULT;
}

/** SEQ.RETAIN: sets the retention (and makes the sequence a series if it was not). */
export function applyRetain(txn: KvTxn, command: SeqRetainCommand, nowMs: number): CommandResult {
  const { bucket, sequence } = command;
  const header = readHeader(txn, bucket, sequence) ?? startSeries(txn, bucket, sequence, nowMs);
  writeHeader(txn, bucket, sequence, prune(txn, bucket, sequence, { ...header, retain: command.numbers }));
  return OK_RESULT;
}

/**
 * The record of number n for CONFIRM/VOID, expired first if its reservation is due; or the error
 * to answer (not handed out yet, or not a reserved number).
 */
function touchNumber(
  txn: KvTxn,
  bucket: Buffer,
  sequence: Buffer,
  n: bigint,
  nowMs: number,
): { record: NumberRecord } | { error: CommandResult } {
  if (n > sequenceValue(txn, bucket, sequence)) {
    return { error: errorResult(ErrorCode.NUMBER_UNKNOWN, `NOTISSUED number ${n} was not handed out yet`) };
  }
  let record = readNumber(txn, bucket, sequence, n);
  if (record === undefined) {
    return { error: errorResult(ErrorCode.NOT_RESERVED, `NOTRESERVED number ${n} was not reserved (plain INC, before the series, or pruned)`) };
  }
  if (record.state === 'reserved' && record.expiresMs <= nowMs) record = expire(txn, bucket, sequence, n, record);
  return { record };
}

/** Voids a due reservation with reason `expired`, at the time it ran out. */
export function expire(txn: KvTxn, bucket: Buffer, sequence: Buffer, n: bigint, record: NumberRecord): NumberRecord {
  const next: NumberRecord = { ...record, state: 'void', changedMs: record.expiresMs, reason: EXPIRED_REASON };
  close(txn, bucket, sequence, n, record, next);
  return next;
}

/** reserved -> used | void: the record, both indexes and the header counts in one step. */
function close(txn: KvTxn, bucket: Buffer, sequence: Buffer, n: bigint, before: NumberRecord, after: NumberRecord): void {
  txn.put(numberKey(bucket, sequence, n), encodeNumber(after));
  txn.remove(openKey(bucket, sequence, n));
  txn.remove(expiryKey(before.expiresMs, bucket, sequence, n));
  const header = readHeader(txn, bucket, sequence)!;
  const counted = { ...header, reserved: header.reserved - 1n };
  const updated = after.state === 'used' ? { ...counted, used: counted.used + 1n } : { ...counted, void: counted.void + 1n };
  writeHeader(txn, bucket, sequence, prune(txn, bucket, sequence, updated));
}

/**
 * The bounded sweep every write apply runs: voids the reservations due by `nowMs`, oldest expiry
 * first, at most `max`. Index entries whose record is gone are dropped. Buckets this shard may
 * not change (a slot frozen for a move out, or not owned: node/ownership/ownership.ts) are
 * skipped, at most EXPIRY_SKIP_MAX of them: a frozen slot's data must stay exactly as exported,
 * and its reservations expire on whichever shard serves it next (the unfrozen source or the
 * target), from the same index entries, which travel with the slot.
 */
export function sweepExpiredReservations(txn: KvTxn, nowMs: number, max = EXPIRY_SWEEP_MAX): number {
  // The common case (nothing due) costs one lookup, as before: every write runs this.
  const first = txn.first(EXPIRY_PREFIX);
  if (first === undefined || parseExpiryKey(first.key).expiresMs > nowMs) return 0;
  const due: Buffer[] = [];
  let skipped = 0;
  // Collect first: no writes while a scan is open.
  for (const e of txn.scan(EXPIRY_PREFIX)) {
    if (due.length >= max || skipped >= EXPIRY_SKIP_MAX) break;
    const entry = parseExpiryKey(e.key);
    if (entry.expiresMs > nowMs) break;
    if (ownershipRefusal(txn, entry.bucket) !== null) {
      skipped++;
      continue;
    }
    due.push(Buffer.from(e.key));
  }
  for (const key of due) {
    const entry = parseExpiryKey(key);
    const record = readNumber(txn, entry.bucket, entry.sequence, entry.n);
    if (record?.state === 'reserved' && record.expiresMs === entry.expiresMs) {
      expire(txn, entry.bucket, entry.sequence, entry.n, record);
    }
    txn.remove(key);
  }
  return due.length;
}

/**
 * Whether any sequence of the bucket is a series: one cursor look at the bucket's headers. An
 * INCS of many sequences asks once instead of looking up each sequence's header; a lone INC looks
 * up its one header (cheaper than a cursor). A scan, not `first`: the transaction cache keeps a
 * window per prefix asked with `first` and updates each on every write, and a follower catching
 * up applies INCS of thousands of buckets in one transaction.
 */
export function bucketHasSeries(txn: KvTxn, bucket: Buffer): boolean {
  // Most shards have no series at all (they are opt-in): then the answer comes from the window
  // of the whole header space that lmdb-store.ts carries across transactions, with no cursor.
  // Each cursor opened in a write transaction is a new lmdb-js Cursor whose ~300 B of native
  // memory only a finalizer frees, on a later turn of the event loop: 100,000 INCS applied
  // without a turn held 40 MB until then (bench/apply-memory.ts --no-yield).
  if (txn.first(SERIES_HEADERS_PREFIX) === undefined) return false;
  for (const _header of txn.scan(bucketHeadersPrefix(bucket))) return true;
  return false;
}

/** Hook for INC (apply.ts): on a series, records first..last as plain-INC numbers. */
export function noteIncrement(txn: KvTxn, bucket: Buffer, sequence: Buffer, first: bigint, last: bigint): void {
  const header = readHeader(txn, bucket, sequence);
  if (header === undefined) return;
  const nowMs = Number(getMeta(txn, 'clockMs'));
  let runNext = header.runNext;
  const lastKey = runNext > header.runFirst ? runKey(bucket, sequence, runNext - 1n) : undefined;
  const previous = lastKey === undefined ? undefined : txn.get(lastKey);
  const run = previous === undefined ? undefined : decodeRun(previous);
  if (lastKey !== undefined && run !== undefined && run.end + 1n === first && nowMs - run.firstMs < INC_RUN_WINDOW_MS) {
    txn.put(lastKey, encodeRun({ ...run, end: last, lastMs: nowMs }));
  } else {
    txn.put(runKey(bucket, sequence, runNext), encodeRun({ start: first, end: last, firstMs: nowMs, lastMs: nowMs }));
    runNext++;
  }
  const updated = { ...header, runNext, inc: header.inc + (last - first + 1n) };
  writeHeader(txn, bucket, sequence, prune(txn, bucket, sequence, updated));
}

/**
 * Retention: removes up to PRUNE_MAX closed records and runs of numbers <= value - retain, in
 * number order (runs and records merged), stopping at the first that must stay: an open
 * reservation (pruned once closed), anything above the floor, or the budget's end. Everything
 * below that first kept number was removed, so `prunedThrough` moves up to just below it. (Runs
 * and records were pruned in two passes before: runs above an open reservation went while
 * prunedThrough stopped below it, and AUDIT found numbers with no record; found by a review.)
 * Returns the header with runFirst and prunedThrough moved; the caller writes it.
 */
function prune(txn: KvTxn, bucket: Buffer, sequence: Buffer, header: SeriesHeader): SeriesHeader {
  if (header.retain === 0n) return header;
  const floor = sequenceValue(txn, bucket, sequence) - header.retain;
  if (floor <= header.prunedThrough) return header;
  const prefix = seriesPrefix(SPACE_SERIES_NUMBER, bucket, sequence);
  let budget = PRUNE_MAX;
  let runFirst = header.runFirst;
  let kept: bigint | undefined;
  for (;;) {
    const run = runFirst < header.runNext ? decodeRun(txn.get(runKey(bucket, sequence, runFirst))!) : undefined;
    const record = txn.first(prefix);
    const n = record === undefined ? undefined : trailingU64(record.key);
    if (run === undefined && n === undefined) break;
    const runNext = run !== undefined && (n === undefined || run.start < n);
    const next = runNext ? run!.start : n!;
    const removable = runNext ? run!.end <= floor : n! <= floor && decodeNumber(record!.value).state !== 'reserved';
    if (!removable || budget === 0) {
      kept = next;
      break;
    }
    if (runNext) txn.remove(runKey(bucket, sequence, runFirst++));
    else txn.remove(Buffer.from(record!.key));
    budget--;
  }
  const through = kept !== undefined && kept - 1n < floor ? kept - 1n : floor;
  return { ...header, runFirst, prunedThrough: through > header.prunedThrough ? through : header.prunedThrough };
}

