/**
 * The commands SeqDB's state machine applies. A command is plain data: it is parsed from client
 * arguments, encoded into bytes that a Raft log can carry (codec.ts), and applied to a store
 * (apply.ts). Nothing here knows about sockets.
 */
import type { ErrorCode } from '../../shared/errors.ts';
import type { ClusterCommand } from '../ownership/cluster-command.ts';
import type { SeriesCommand } from './series-command.ts';

/** Largest value a sequence can hold: 2^63 - 1, so it fits a signed 64-bit integer everywhere. */
export const SEQUENCE_VALUE_MAX = 9223372036854775807n;
/** Bucket and sequence names are 1..NAME_BYTES_MAX bytes, any bytes. */
export const NAME_BYTES_MAX = 256;
/** INC ... COUNT n accepts 1..INC_COUNT_MAX. */
export const INC_COUNT_MAX = 1_000_000;
/** INC ... ID token accepts tokens of 1..TOKEN_BYTES_MAX bytes. */
export const TOKEN_BYTES_MAX = 64;

export interface SetCommand {
  readonly type: 'set';
  readonly bucket: Buffer;
  readonly sequence: Buffer;
  readonly value: bigint;
}

export interface IncCommand {
  readonly type: 'inc';
  readonly bucket: Buffer;
  readonly sequence: Buffer;
  /** How many consecutive numbers to take; the reply is the last of them. */
  readonly count: number;
  /** Exactly-once token; absent for a plain INC. */
  readonly token?: Buffer;
  /**
   * Reply number `part` (0 = first) of the block instead of its last: set by `PART i/k`
   * (part-token.ts). A reply rule only: never in the log.
   */
  readonly part?: number;
}

/**
 * One number of each of k sequences of one bucket, atomically: what a router sends for k
 * concurrent plain INCs of different sequences (multi-inc.ts). The token is a multi-sequence
 * block token of k (part-token.ts); its record holds every part's number.
 *
 * With `part` set it is the retry of one part (`INC bucket sequence ID <token> PART i/k`):
 * `sequences` is that part's one sequence, and `part` is in the log (unlike IncCommand's), because
 * which part it is decides what it takes.
 */
export interface IncsCommand {
  readonly type: 'incs';
  readonly bucket: Buffer;
  readonly sequences: readonly Buffer[];
  readonly token: Buffer;
  readonly part?: number;
}

export interface GetCommand {
  readonly type: 'get';
  readonly bucket: Buffer;
  readonly sequence: Buffer;
  /**
   * Internal (node/replication/read-barrier.ts): only the ReadIndex round matters; it reads nothing
   * and no slot's ownership applies (a frozen slot's TRYAGAIN would read as "not now" forever).
   */
  readonly barrier?: true;
}

/** ClusterCommand: internal catalog/ownership commands (node/ownership/), applied in the same log. */
export type Command = SetCommand | IncCommand | IncsCommand | GetCommand | ClusterCommand | SeriesCommand;
export type WriteCommand = SetCommand | IncCommand | IncsCommand;

/**
 * What applying a command produced. Errors are data, not exceptions, so that every replica
 * applying the same log computes the same results and nothing aborts a shared transaction.
 */
export type CommandResult =
  | { readonly type: 'ok' }
  | { readonly type: 'int'; readonly value: bigint }
  | { readonly type: 'nil' }
  /** A bulk string (CLUSTER CATALOG / OWNERSHIP replies). */
  | { readonly type: 'bulk'; readonly value: Buffer }
  | { readonly type: 'error'; readonly code: ErrorCode; readonly message: string }
  /** A RESP array (AUDIT, SEQ.INFO, SEQ.LIST of issue 12). */
  | { readonly type: 'array'; readonly value: readonly ResultItem[] };

/** An element of an array result: an integer, a bulk string, nil, or a nested array. */
export type ResultItem = bigint | Buffer | null | readonly ResultItem[];

export function isWrite(command: Command): command is WriteCommand {
  return command.type !== 'get';
}

export const OK_RESULT: CommandResult = Object.freeze({ type: 'ok' });
export const NIL_RESULT: CommandResult = Object.freeze({ type: 'nil' });

export function intResult(value: bigint): CommandResult {
  return { type: 'int', value };
}

export function errorResult(code: ErrorCode, message: string): CommandResult {
  return { type: 'error', code, message };
}
