/**
 * Part tokens: `<token>*<i>/<k>` names number i (0-based) of the block of k consecutive numbers
 * that `INC bucket sequence COUNT k ID <token>` takes.
 *
 * Why: a router merges k concurrent plain INCs of one sequence into one such block (one log entry
 * part, one apply, one token record instead of k; router/inc-coalescer.ts). When the block's
 * outcome is unknown, each of the k clients is told to retry with its own part token. A retry
 * takes the whole block under `<token>` if it never applied, or finds it if it did, and answers
 * number i, so no member can ever get a number twice or a number of another member. Members that
 * never retry leave their numbers unused, exactly as an unretried ambiguous INC may today.
 *
 * The suffix is only a reply rule: the log and the token table see the block's `COUNT k ID
 * <token>`; nothing about parts is stored.
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';

/** Most numbers in one merged block (and largest k of a part token). */
export const BLOCK_PARTS_MAX = 1024;

export interface PartToken {
  /** The block's token. */
  readonly token: Buffer;
  /** Which number of the block (0 = the first). */
  readonly index: number;
  /** Numbers in the block. */
  readonly count: number;
}

const STAR = 0x2a;
const SLASH = 0x2f;

/**
 * The part a token names, or undefined for an ordinary token (one without a `*<digits>/<digits>`
 * ending). A token with that ending but no valid part (k outside 2..BLOCK_PARTS_MAX, i >= k,
 * leading zeros, nothing before the `*`) is refused rather than taken as an ordinary token, so a
 * mistyped part can never take a fresh number.
 */
export function parsePartToken(token: Buffer): PartToken | undefined {
  const slash = token.lastIndexOf(SLASH);
  if (slash < 0) return undefined;
  const star = token.lastIndexOf(STAR, slash);
  if (star < 0) return undefined;
  const index = decimal(token, star + 1, slash);
  const count = decimal(token, slash + 1, token.length);
  if (index === undefined || count === undefined) return undefined;
  if (star === 0 || !canonical(token, star + 1, slash) || !canonical(token, slash + 1, token.length)) throw invalid();
  if (count < 2 || count > BLOCK_PARTS_MAX || index >= count) throw invalid();
  return { token: token.subarray(0, star), index, count };
}

/** The part token of number `index` of the block of `count` taken with `token`. */
export function partToken(token: Buffer, index: number, count: number): Buffer {
  return Buffer.concat([token, Buffer.from(`*${index}/${count}`, 'latin1')]);
}

/** Number `index` of the block whose last number is `last`. */
export function partValue(last: bigint, count: number, index: number): bigint {
  return last - BigInt(count - 1 - index);
}

/** Digits only, 1..7 of them (parts are at most 1024), else undefined. */
function decimal(bytes: Buffer, from: number, to: number): number | undefined {
  if (to <= from || to - from > 7) return undefined;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = bytes[i]! - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  return value;
}

function canonical(bytes: Buffer, from: number, to: number): boolean {
  return to - from === 1 || bytes[from] !== 0x30;
}

function invalid(): SeqError {
  return new SeqError(ErrorCode.SYNTAX, `syntax error: a part token is <token>*<i>/<k> with 0 <= i < k, 2 <= k <= ${BLOCK_PARTS_MAX}`);
}
