/**
 * AUDIT, SEQ.INFO and SEQ.LIST (issue 12), and the entry point `applySeries` that apply.ts hands
 * every series command to. These go through the log like writes so that each one first voids the
 * reservations already due at its own committed time: an audit never shows a reservation that
 * has run out as still open.
 *
 * AUDIT row: [number, state, time_ms, ref, reason, expires_ms]; state is one of
 *   reserved (time: reserved at; expires_ms: when it runs out), used (time: confirmed at),
 *   void (time: voided at, or when it ran out with reason `expired`), inc (plain INC; time: the
 *   start of its run, precise to INC_RUN_WINDOW_MS), pre (taken before the sequence became a
 *   series; untracked, time nil), pruned (record removed under SEQ.RETAIN; time nil).
 * Numbers above the sequence's value are not listed.
 */
import { ErrorCode } from '../../shared/errors.ts';
import { errorResult, type CommandResult, type ResultItem } from './command.ts';
import { SPACE_SEQUENCE } from './keys.ts';
import type { KvTxn } from './kv.ts';
import type { ResolvedOptions } from './options.ts';
import { cursorAfter, type AuditCommand, type SeqInfoCommand, type SeqListCommand, type SeriesCommand } from './series-command.ts';
import { SPACE_SERIES_OPEN, openKey, runKey, seriesPrefix, trailingU64 } from './series-keys.ts';
import { decodeRun, type IncRun, type NumberRecord, type SeriesHeader } from './series-record.ts';
import {
  applyConfirm,
  applyReserve,
  applyRetain,
  applyVoid,
  expire,
  readHeader,
  readNumber,
  sequenceValue,
} from './series.ts';

/** Open reservations SEQ.INFO checks for expiry before answering (lowest numbers first). */
const INFO_OPEN_SCAN_MAX = 1000;

export function applySeries(txn: KvTxn, command: SeriesCommand, nowMs: number, options: ResolvedOptions): CommandResult {
  switch (command.type) {
    case 'reserve':
      return applyReserve(txn, command, nowMs, options);
    case 'confirm':
      return applyConfirm(txn, command, nowMs);
    case 'void':
      return applyVoid(txn, command, nowMs);
    case 'seq.retain':
      return applyRetain(txn, command, nowMs);
    case 'audit':
      return audit(txn, command, nowMs);
    case 'seq.info':
      return info(txn, command, nowMs);
    case 'seq.list':
      return list(txn, command);
  }
}

const text = (s: string): Buffer => Buffer.from(s, 'latin1');

/**
 * The reservations of the range already due are voided first, and only then is the trail read:
 * voiding one closes it, which may prune records and runs (SEQ.RETAIN) the rows below would read.
 * Pruning while reading made an AUDIT report pruned numbers as missing, or throw on a run it had
 * just deleted; a throw while applying a committed entry stops every replica, at every restart
 * (found by a review). The reading itself writes nothing, so a failure there is an error result.
 */
function audit(txn: KvTxn, command: AuditCommand, nowMs: number): CommandResult {
  const { bucket, sequence } = command;
  const value = sequenceValue(txn, bucket, sequence);
  const to = command.to < value ? command.to : value;
  expireDue(txn, bucket, sequence, command.from, to, nowMs);
  try {
    return auditRows(txn, command.bucket, command.sequence, command.from, to);
  } catch (err) {
    return errorResult(ErrorCode.INTERNAL, `audit trail unreadable: ${(err as Error).message}`);
  }
}

/** Voids the open reservations of [from, to] due at `nowMs` (AUDIT caps its range: one get per number). */
function expireDue(txn: KvTxn, bucket: Buffer, sequence: Buffer, from: bigint, to: bigint, nowMs: number): void {
  for (let n = from; n <= to; n++) {
    const expiresMs = txn.get(openKey(bucket, sequence, n));
    if (expiresMs === undefined || Number(expiresMs.readBigUInt64BE(0)) > nowMs) continue;
    const record = readNumber(txn, bucket, sequence, n);
    if (record?.state === 'reserved') expire(txn, bucket, sequence, n, record);
  }
}

function auditRows(txn: KvTxn, bucket: Buffer, sequence: Buffer, from: bigint, to: bigint): CommandResult {
  const header = readHeader(txn, bucket, sequence);
  const rows: ResultItem[] = [];
  const runs = header === undefined ? undefined : new RunCursor(txn, bucket, sequence, header, from);
  for (let n = from; n <= to; n++) {
    const record = header === undefined ? undefined : readNumber(txn, bucket, sequence, n);
    if (record !== undefined) {
      rows.push(recordRow(n, record));
      continue;
    }
    const run = runs?.containing(n);
    if (run !== undefined) rows.push([n, text('inc'), BigInt(run.firstMs), null, null, null]);
    else if (header === undefined || n <= header.base) rows.push([n, text('pre'), null, null, null, null]);
    else if (n <= header.prunedThrough) rows.push([n, text('pruned'), null, null, null, null]);
    else return errorResult(ErrorCode.INTERNAL, `audit trail has no record of number ${n}`);
  }
  return { type: 'array', value: rows };
}

function recordRow(n: bigint, r: NumberRecord): ResultItem[] {
  const time = r.state === 'reserved' ? r.reservedMs : r.changedMs;
  return [n, text(r.state), BigInt(time), r.ref ?? null, r.reason ?? null, BigInt(r.expiresMs)];
}

/** Walks the plain-INC runs in number order from the first run that may contain `from`. */
class RunCursor {
  private index: bigint;
  private run: IncRun | undefined;
  constructor(
    private readonly txn: KvTxn,
    private readonly bucket: Buffer,
    private readonly sequence: Buffer,
    private readonly header: SeriesHeader,
    from: bigint,
  ) {
    // Runs are in number order: binary search for the first run whose end >= from.
    let lo = header.runFirst;
    let hi = header.runNext;
    while (lo < hi) {
      const mid = (lo + hi) / 2n;
      if (this.load(mid).end < from) lo = mid + 1n;
      else hi = mid;
    }
    this.index = lo;
    this.run = lo < header.runNext ? this.load(lo) : undefined;
  }

  containing(n: bigint): IncRun | undefined {
    while (this.run !== undefined && this.run.end < n) {
      this.index++;
      this.run = this.index < this.header.runNext ? this.load(this.index) : undefined;
    }
    return this.run !== undefined && this.run.start <= n ? this.run : undefined;
  }

  private load(index: bigint): IncRun {
    const bytes = this.txn.get(runKey(this.bucket, this.sequence, index));
    if (bytes === undefined) throw new Error(`run ${index} is missing`);
    return decodeRun(bytes);
  }
}

function info(txn: KvTxn, command: SeqInfoCommand, nowMs: number): CommandResult {
  const { bucket, sequence } = command;
  const value = sequenceValue(txn, bucket, sequence);
  const before = readHeader(txn, bucket, sequence);
  if (before === undefined) return { type: 'array', value: [text('value'), value, text('series'), 0n] };
  // Collect first, then expire: no writes while a scan is open.
  const due: bigint[] = [];
  let oldest: bigint | undefined;
  let scanned = 0;
  for (const entry of txn.scan(seriesPrefix(SPACE_SERIES_OPEN, bucket, sequence))) {
    if (++scanned > INFO_OPEN_SCAN_MAX) break;
    const n = trailingU64(entry.key);
    if (Number(entry.value.readBigUInt64BE(0)) <= nowMs) due.push(n);
    else if (oldest === undefined) oldest = n;
  }
  for (const n of due) {
    const record = readNumber(txn, bucket, sequence, n);
    if (record?.state === 'reserved') expire(txn, bucket, sequence, n, record);
  }
  const h = readHeader(txn, bucket, sequence)!;
  const open = oldest === undefined ? undefined : readNumber(txn, bucket, sequence, oldest);
  return {
    type: 'array',
    value: [
      text('value'), value,
      text('series'), 1n,
      text('pre'), h.base,
      text('reserved'), h.reserved,
      text('used'), h.used,
      text('void'), h.void,
      text('inc'), h.inc,
      text('retain'), h.retain,
      text('pruned_through'), h.prunedThrough,
      text('created_ms'), BigInt(h.createdMs),
      text('oldest_reserved'), oldest ?? null,
      text('oldest_reserved_ms'), open === undefined ? null : BigInt(open.reservedMs),
      text('oldest_expires_ms'), open === undefined ? null : BigInt(open.expiresMs),
    ],
  };
}

/** SEQ.LIST: [next cursor, [names]]; the cursor is the hex of the last name, "0" at the end. */
function list(txn: KvTxn, command: SeqListCommand): CommandResult {
  const prefix = Buffer.alloc(3 + command.bucket.length);
  prefix[0] = SPACE_SEQUENCE;
  prefix.writeUInt16BE(command.bucket.length, 1);
  command.bucket.copy(prefix, 3);
  const names: Buffer[] = [];
  let more = false;
  // Keys are prefix | u16 len | name: key order is (length, bytes) order, and so is the cursor's.
  // Seek past the cursor (the key of the name `after`); the empty cursor starts the bucket.
  let start: Buffer | undefined;
  if (command.after.length > 0) {
    start = Buffer.alloc(prefix.length + 2 + command.after.length);
    prefix.copy(start, 0);
    start.writeUInt16BE(command.after.length, prefix.length);
    command.after.copy(start, prefix.length + 2);
  }
  for (const entry of txn.scan(prefix, start)) {
    const name = Buffer.from(entry.key.subarray(prefix.length + 2));
    if (compareNames(name, command.after) <= 0) continue;
    if (names.length === command.count) {
      more = true;
      break;
    }
    names.push(name);
  }
  const cursor = more ? cursorAfter(names[names.length - 1]!) : '0';
  return { type: 'array', value: [text(cursor), names] };
}

/** Key order of length-prefixed names: shorter first, then bytewise. The empty name is first. */
function compareNames(a: Buffer, b: Buffer): number {
  return a.length !== b.length ? a.length - b.length : Buffer.compare(a, b);
}

