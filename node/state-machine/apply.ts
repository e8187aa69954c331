/**
 * Deterministic application of commands. Given the same store contents, command and timeMs,
 * every replica computes the same result and the same writes. The clock is the largest timeMs
 * applied so far (stored in meta), so a proposer whose clock steps back cannot un-expire tokens.
 */
import { ErrorCode } from '../../shared/errors.ts';
import {
  NIL_RESULT,
  OK_RESULT,
  SEQUENCE_VALUE_MAX,
  errorResult,
  intResult,
  type Command,
  type CommandResult,
  type GetCommand,
  type IncCommand,
  type SetCommand,
} from './command.ts';
import { readU64, sequenceKey, tokenKey } from './keys.ts';
import { writeSequence, writeSequenceKnown } from './sequence-value.ts';
import { applyIncs } from './multi-inc.ts';
import type { KvReader, KvTxn } from './kv.ts';
import { getMeta, setMeta } from './meta.ts';
import { resolveOptions, type ResolvedOptions, type StateMachineOptions } from './options.ts';
import { applyClusterCommand } from '../ownership/apply-cluster.ts';
import { ownershipRefusal } from '../ownership/ownership.ts';
import { evictExpiredTokens, newTokenRefusal, readToken, rememberToken } from './tokens.ts';
import { applySeries } from './audit.ts';
import { isSeriesCommand } from './series-command.ts';
import { noteIncrement, seriesRefusesSet, sweepExpiredReservations } from './series.ts';
import { effectiveOptions, setTokenOptions, setTokenRules } from './token-options.ts';

/** Applies commands with fixed options; see `apply`. */
export class StateMachine {
  /** From the flags; the token options of a state that stores its own are those (token-options.ts). */
  readonly options: ResolvedOptions;
  private readonly lastEffective: { options: ResolvedOptions };
  constructor(options: StateMachineOptions = {}) {
    this.options = resolveOptions(options);
    this.lastEffective = { options: this.options };
  }

  /**
   * Applies one command inside `txn` (a write transaction) and returns its result. Never throws
   * for client-level failures (those are `error` results); a throw means storage is broken.
   * `timeMs` is the proposer's clock carried with the command (decodeCommand gives it).
   */
  apply(txn: KvTxn, command: Command, timeMs: number): CommandResult {
    if (command.type === 'cluster') {
      if (command.op === 'tokenrules') setTokenRules(txn, command.version);
      else if (command.op === 'tokenoptions') setTokenOptions(txn, command);
      else return applyClusterCommand(txn, command);
      return OK_RESULT;
    }
    if (command.type === 'get') return read(txn, command);
    // Sharded cluster: a bucket of a slot this shard does not own changes nothing (node/ownership/).
    const refusal = ownershipRefusal(txn, command.bucket);
    if (refusal !== null) return refusal;
    const options = effectiveOptions(txn, this.options, this.lastEffective);
    const nowMs = advanceClock(txn, timeMs);
    evictExpiredTokens(txn, nowMs, options);
    // Issue 12 (series.ts): void due reservations (bounded), then series commands.
    sweepExpiredReservations(txn, nowMs);
    if (isSeriesCommand(command)) return applySeries(txn, command, nowMs, options);
    if (command.type === 'set') return seriesRefusesSet(txn, command.bucket, command.sequence) ?? applySet(txn, command);
    if (command.type === 'incs') return applyIncs(txn, command, nowMs, options);
    return applyInc(txn, command, nowMs, options);
  }
}

function applyInc(txn: KvTxn, command: IncCommand, nowMs: number, options: ResolvedOptions): CommandResult {
  if (command.token === undefined) return increment(txn, command);
  const key = tokenKey(command.bucket, command.sequence, command.token);
  const known = readToken(txn, key);
  if (known !== undefined) {
    if (known.count !== command.count) {
      return errorResult(ErrorCode.TOKEN_MISMATCH, 'ID token was used with a different COUNT, or by another command (RESERVE)');
    }
    return intResult(known.value);
  }
  const refused = newTokenRefusal(txn, command.token, nowMs, options);
  if (refused !== null) return refused;
  const result = increment(txn, command);
  if (result.type === 'int') {
    const entry = { token: command.token, count: command.count, value: result.value };
    rememberToken(txn, key, entry, nowMs, options);
  }
  return result;
}

/** GET: the value, or nil if the sequence was never set or incremented. Pure read. */
export function read(kv: KvReader, command: GetCommand): CommandResult {
  if (command.barrier === true) return NIL_RESULT;
  const refusal = ownershipRefusal(kv, command.bucket);
  if (refusal !== null) return refusal;
  const bytes = kv.get(sequenceKey(command.bucket, command.sequence));
  return bytes === undefined ? NIL_RESULT : intResult(readU64(bytes));
}

function applySet(txn: KvTxn, command: SetCommand): CommandResult {
  writeSequence(txn, sequenceKey(command.bucket, command.sequence), command.value);
  return OK_RESULT;
}

/** Takes `count` numbers; never wraps: past the maximum it refuses and the value stays. */
function increment(txn: KvTxn, command: IncCommand): CommandResult {
  const key = sequenceKey(command.bucket, command.sequence);
  const bytes = txn.get(key);
  const next = readU64(bytes) + BigInt(command.count);
  if (next > SEQUENCE_VALUE_MAX) return errorResult(ErrorCode.OVERFLOW, 'increment would overflow');
  writeSequenceKnown(txn, key, next, bytes !== undefined);
  noteIncrement(txn, command.bucket, command.sequence, next - BigInt(command.count) + 1n, next); // series audit
  return intResult(next);
}

function advanceClock(txn: KvTxn, timeMs: number): number {
  const clockMs = Number(getMeta(txn, 'clockMs'));
  if (timeMs <= clockMs) return clockMs;
  setMeta(txn, 'clockMs', BigInt(timeMs));
  return timeMs;
}
