/**
 * An upper bound on the size of a request's reply, known before it runs, so a connection can
 * stop taking requests while the replies it owes would exceed its output budget. Without it, one
 * 55 KB burst of `SEQ.LIST ... COUNT 1000` built ~770 MB of replies before any bound was checked
 * (a review). Only the few commands with large replies are looked at; the rest are small, except
 * that a reply may echo the request's own bytes (ECHO, errors quoting an argument).
 */
import { NAME_BYTES_MAX } from '../state-machine/command.ts';
import { nameIs } from './command-name.ts';
import { AUDIT_RANGE_MAX, SEQ_LIST_COUNT_DEFAULT, SEQ_LIST_COUNT_MAX, SERIES_TEXT_BYTES_MAX } from '../state-machine/series-command.ts';

/** A small reply's bound (integers, +OK, short errors). */
const SMALL_REPLY_BYTES = 64;
/** One AUDIT row: `[n, state, time_ms, ref, reason, expires_ms]`, REF and REASON at their longest. */
const AUDIT_ROW_BYTES = 2 * (SERIES_TEXT_BYTES_MAX + 8) + 4 * 24 + 8;
/** One SEQ.LIST name: a bulk string of at most NAME_BYTES_MAX bytes. */
const SEQ_LIST_NAME_BYTES = NAME_BYTES_MAX + 16;
/** INFO and the status pages: a few KB. */
const INFO_REPLY_BYTES = 16 * 1024;
/** CLUSTER steps: catalogs and export pages (40 KiB of data) are the largest. */
const CLUSTER_REPLY_BYTES = 128 * 1024;

/** Runs once per request: no string is made for the common commands (INC, GET, SET, INCS). */
export function replyBytesEstimate(args: readonly Buffer[]): number {
  let echoed = SMALL_REPLY_BYTES;
  for (const a of args) echoed += a.length;
  const name = args[0];
  if (name === undefined) return echoed;
  if (nameIs(name, 'audit')) return echoed + auditRows(args) * AUDIT_ROW_BYTES;
  // SEQ.LIST bucket [cursor] COUNT n: options come after the bucket (a bucket may be called "count").
  if (nameIs(name, 'seq.list')) return echoed + optionNumber(args, 'COUNT', SEQ_LIST_COUNT_DEFAULT, SEQ_LIST_COUNT_MAX, 2) * SEQ_LIST_NAME_BYTES;
  if (nameIs(name, 'info')) return echoed + INFO_REPLY_BYTES;
  if (nameIs(name, 'cluster')) return echoed + CLUSTER_REPLY_BYTES;
  return echoed;
}

/** AUDIT b s FROM a TO b: the rows asked for (at most AUDIT_RANGE_MAX; all of them if unreadable). */
function auditRows(args: readonly Buffer[]): number {
  // Options follow `AUDIT bucket sequence`: a bucket or sequence may be called "to" or "from".
  const from = optionValue(args, 'FROM', 3);
  const to = optionValue(args, 'TO', 3);
  if (from === null || to === null || to < from) return AUDIT_RANGE_MAX;
  const rows = to - from + 1n;
  return rows > BigInt(AUDIT_RANGE_MAX) ? AUDIT_RANGE_MAX : Number(rows);
}

/** The option's number: `fallback` when it is absent, `max` when it is unreadable or beyond. */
function optionNumber(args: readonly Buffer[], option: string, fallback: number, max: number, from = 1): number {
  if (optionAt(args, option, from) < 0) return fallback;
  const value = optionValue(args, option, from);
  return value === null || value < 1n || value > BigInt(max) ? max : Number(value);
}

function optionValue(args: readonly Buffer[], option: string, from = 1): bigint | null {
  const at = optionAt(args, option, from);
  const text = at < 0 ? undefined : args[at + 1]?.toString('latin1');
  return text !== undefined && /^\d{1,19}$/.test(text) ? BigInt(text) : null;
}

function optionAt(args: readonly Buffer[], option: string, from = 1): number {
  for (let i = from; i < args.length; i++) {
    if (args[i]!.length === option.length && args[i]!.toString('latin1').toUpperCase() === option) return i;
  }
  return -1;
}
