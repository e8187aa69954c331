/**
 * Parts of a block: `INC bucket sequence ID <token> PART <i>/<k>` names number i (0-based) of
 * the block of k consecutive numbers that `INC bucket sequence COUNT k ID <token>` takes.
 *
 * Why: a router merges k concurrent plain INCs of one sequence into one such block (one log entry
 * part, one apply, one token record instead of k; router/inc-coalescer.ts). When the block's
 * outcome is unknown, each of the k clients is told to retry with `ID <token> PART <i>/<k>`. That
 * retry takes the whole block under `<token>` if it never applied, or finds it if it did, and
 * answers number i, so no member can get a number twice or a number of another member.
 *
 * PART is an option of its own, not a suffix of the token: every token a client ever chose keeps
 * meaning what it meant. PART is only a reply rule: the log and the token table see the block's
 * `COUNT k ID <token>`; nothing about parts is stored.
 */
import { ErrorCode, SeqError } from '../errors.ts';

/** Most numbers in one merged block (and largest k of a PART). */
export const BLOCK_PARTS_MAX = 1024;

export interface Part {
  /** Which number of the block (0 = the first). */
  readonly index: number;
  /** Numbers in the block. */
  readonly count: number;
}

const PART = /^(0|[1-9][0-9]{0,3})\/([1-9][0-9]{0,3})$/;

/** `<i>/<k>` with 0 <= i < k and 2 <= k <= BLOCK_PARTS_MAX, canonical decimals; else SYNTAX. */
export function parsePart(arg: Buffer): Part {
  const match = PART.exec(arg.toString('latin1'));
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match === null || count < 2 || count > BLOCK_PARTS_MAX || index >= count) {
    throw new SeqError(ErrorCode.SYNTAX, `syntax error: PART is <i>/<k> with 0 <= i < k, 2 <= k <= ${BLOCK_PARTS_MAX}`);
  }
  return { index, count };
}

/**
 * Block tokens: `<unix ms>-<16 base64url chars>~<k>`, what routers and the client library make
 * for a merged block of k. k different callers share it, so it must never serve as an ordinary
 * one-number token: if each caller retried `ID <it>` alone, the first would take a number under
 * it and the others would be answered the same number. So a token of this exact shape is only
 * accepted with `COUNT k` (the block) or `PART i/k` (one of its numbers). The shape is the
 * timed-token form plus a suffix, not something a client's own token has by accident.
 */
const BLOCK_TOKEN = /^[0-9]{1,15}-[A-Za-z0-9_-]{16}~([1-9][0-9]{0,3})$/;

/** The k of a block token, or undefined for any other token. */
export function blockTokenCount(token: Buffer): number | undefined {
  if (token.length > 40 || token.length < 20) return undefined;
  const match = BLOCK_TOKEN.exec(token.toString('latin1'));
  return match === null ? undefined : Number(match[1]);
}

/**
 * Multi-sequence block tokens: `<unix ms>-<16 base64url chars>+<k>`, what routers make for k
 * concurrent plain INCs of different sequences of one bucket merged into one `INCS bucket <token>
 * seq1 .. seqk` (multi-inc.ts in node/state-machine). Part i's number is stored under the token
 * itself, so `INC bucket seq_i ID <token> PART i/k` finds it, or takes it alone if the block
 * never applied (and the block, if it applies later, then skips that part). Like a block token,
 * such a token is accepted only with INCS of k sequences or a PART i/k.
 */
/** Most sequences in one INCS (its request has 3 + this many arguments: within the default argsMax 64). */
export const INCS_SEQUENCES_MAX = 60;

const MULTI_TOKEN = /^[0-9]{1,15}-[A-Za-z0-9_-]{16}\+([1-9][0-9]{0,3})$/;

/** The k of a multi-sequence block token, or undefined for any other token. */
export function multiTokenCount(token: Buffer): number | undefined {
  if (token.length > 40 || token.length < 20) return undefined;
  const match = MULTI_TOKEN.exec(token.toString('latin1'));
  if (match === null) return undefined;
  const count = Number(match[1]);
  return count >= 2 && count <= INCS_SEQUENCES_MAX ? count : undefined;
}

/** A multi-sequence block token for `count` parts from a timed token (`<ms>-<16 chars>`). */
export function multiToken(timedToken: string, count: number): string {
  return `${timedToken}+${count}`;
}

/** A block token for `count` numbers from a timed token (`<ms>-<16 chars>`). */
export function blockToken(timedToken: string, count: number): string {
  return `${timedToken}~${count}`;
}

/** What a client retries part `index` of the block of `count` taken with `token` with. */
export function partRetry(token: Buffer, index: number, count: number): string {
  return `ID ${token.toString('latin1')} PART ${index}/${count}`;
}

/** Number `index` of the block whose last number is `last`. */
export function partValue(last: bigint, count: number, index: number): bigint {
  return last - BigInt(count - 1 - index);
}
