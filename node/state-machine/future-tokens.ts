/**
 * A leader's check, before it proposes, of an unknown token timed ahead of its clock: one that
 * this shard would forget (evict by the count bound, --tokens-max) before its time has passed is
 * refused TOKEN_AHEAD, nothing taken.
 *
 * Why: evicting a timed token raises the shard's TOKEN_EXPIRED fence to its time (tokens.ts
 * evict), so that its retry can never take a second number. A token up to tokenFutureMsMax (60 s)
 * ahead is accepted, and if the count bound evicts it while it is still ahead, the fence sits in
 * the future: every correct-clock token made before it, each plain INC through a router among
 * them, is refused TOKEN_EXPIRED until the clock catches up (a review: a client 50 s ahead, or a
 * hostile one, stopped every router's INCs for ~50 s). Refusing such a token up front keeps the
 * fence where the clocks are.
 *
 * Only the leader checks (the apply rules, and so every replica's state, are unchanged: a
 * mixed-version shard cannot diverge over it). How soon a token is evicted is estimated from the
 * eviction order: the oldest token was remembered `tokenSerial - its serial` tokens ago, at its
 * createdMs, so at that rate the bound turns over in about tokensMax x that time / that count. A
 * sudden rise in the rate can still evict an accepted token early, hence the margin.
 */
import { ErrorCode } from '../../shared/errors.ts';
import { errorResult, type Command, type CommandResult } from './command.ts';
import type { KvReader } from './kv.ts';
import { getMeta } from './meta.ts';
import { tokenKey } from './keys.ts';
import { oldestToken, tokenTimeMs } from './tokens.ts';

/** Tokens at most this far ahead are never refused here (clocks a little apart). */
export const FUTURE_TOKEN_GRACE_MS = 2_000;
/** A token must stay remembered at least twice as long as it is ahead, plus this. */
const TURNOVER_MARGIN_MS = 5_000;
const NO_SEQUENCE = Buffer.alloc(0);

/** How far `command`'s token is timed ahead of `nowMs` (0: not ahead, untimed, or no token). */
export function tokenAheadMs(command: Command, nowMs: number): number {
  if ((command.type !== 'inc' && command.type !== 'incs') || command.token === undefined) return 0;
  const timedMs = tokenTimeMs(command.token);
  return timedMs === undefined ? 0 : Math.max(0, timedMs - nowMs);
}

/**
 * TOKEN_AHEAD for an INC or INCS whose unknown token is `aheadMs` ahead (tokenAheadMs) and would
 * be evicted before its time (see above); null otherwise.
 */
export function futureTokenRefusal(kv: KvReader, command: Command, aheadMs: number, nowMs: number, tokensMax: number): CommandResult | null {
  if (aheadMs <= FUTURE_TOKEN_GRACE_MS || (command.type !== 'inc' && command.type !== 'incs') || command.token === undefined) return null;
  const key = tokenKey(command.bucket, command.type === 'inc' ? command.sequence : NO_SEQUENCE, command.token);
  if (kv.get(key) !== undefined) return null; // a retry: it gets its own result
  const turnoverMs = evictionTurnoverMs(kv, nowMs, tokensMax);
  if (turnoverMs >= 2 * aheadMs + TURNOVER_MARGIN_MS) return null;
  return errorResult(ErrorCode.TOKEN_AHEAD, `ID token time is ${aheadMs} ms ahead of the shard's clock, and this shard forgets a token after about ${Math.round(turnoverMs)} ms (--tokens-max): it would be forgotten before its time; check the clock of whoever made it`);
}

/** About how long a token remembered now stays before the count bound evicts it (Infinity: no estimate). */
export function evictionTurnoverMs(kv: KvReader, nowMs: number, tokensMax: number): number {
  const oldest = oldestToken(kv);
  if (oldest === undefined) return Number.POSITIVE_INFINITY;
  const since = Number(getMeta(kv, 'tokenSerial') - oldest.serial);
  if (since <= 0) return Number.POSITIVE_INFINITY;
  return (tokensMax * Math.max(1, nowMs - oldest.createdMs)) / since;
}
