/**
 * State-machine options. They change what `apply` computes, so under Raft every replica of a
 * group must run with the same values (pass them through the same config).
 */
export interface StateMachineOptions {
  /** How long (ms of log time) an exactly-once token is remembered. Default 86,400,000 (24 h). */
  readonly tokenRetentionMs?: number;
  /** Most tokens remembered per node; beyond it the oldest are evicted first. Default 1,000,000. */
  readonly tokensMax?: number;
  /**
   * A new timed token `<unix ms>-<rest>` more than this far ahead of the log clock is refused
   * (TOKEN_AHEAD, nothing taken): forgotten later, it would raise the expiry fence into the future
   * (every correct clock's new token refused until the log clock caught up) or, kept as opaque,
   * be retried as a new token and take a second number. Default 60,000.
   */
  readonly tokenFutureMsMax?: number;
  /** Most tokens one command may evict, which keeps every apply short. Default 1,000. */
  readonly evictionsPerCommandMax?: number;
  /**
   * The token rules version applied at least (TOKEN_RULES_LATEST below); a state's
   * stored version (CLUSTER TOKENRULES) raises it. Replicas must agree, so Raft shards leave it
   * at 1 and switch through the log; a single node, which has no replicas, uses the latest.
   * Default 1.
   */
  readonly tokenRules?: number;
}

/**
 * Versions of the token eviction rules. Eviction decides what a retried token gets, so every
 * replica must evict alike: a new rule is switched on through the log (`CLUSTER TOKENRULES <v>`,
 * proposed by a leader once every member has the `tokenrules` feature: node/replication/token-options-sync.ts),
 * at one index for all, and never switched back.
 *
 * 1: the original rules.
 * 2: a timed token due for eviction (count bound or retention) while it is ahead of the log
 *    clock or less than TOKEN_KEEP_BEHIND_MS behind it is held beyond the bound (tokens.ts) and
 *    evicted once that old; a command never evicts the token it has just remembered. So the
 *    TOKEN_EXPIRED fence (`evictedTimedMaxMs`) stays that far behind the clock. Evicting a token
 *    ahead raised it ahead of the clock, and every new token of a correct clock was refused until
 *    the clock caught up: one client 50 s ahead stopped every INC through a router for 50 s at the
 *    count bound (a review). The count may exceed the bound by the held tokens: at most those of
 *    `tokenFutureMsMax` (60 s) ahead plus TOKEN_KEEP_BEHIND_MS (30 s) behind.
 */
export const TOKEN_RULES_LATEST = 2;
/** The version from which recent tokens due for eviction are held instead (tokens.ts). */
export const TOKEN_RULES_KEEP_RECENT = 2;
/**
 * Rules 2 keep a timed token until its time is this far behind the log clock: more than the
 * client library retries one token by default (its 15 s call deadline, client/options.ts) plus a
 * router's retries of each attempt (5 s) and the clock differences of correct clocks, so that
 * such a token, retried or arriving new, is never below the fence (a review: 10 s refused a
 * client's retry after 11 s at a tight bound). Calls given longer deadlines can still outlive it
 * at a bound holding less than this much writes. Part of the rules: changing it is a new rules
 * version.
 */
export const TOKEN_KEEP_BEHIND_MS = 30_000;

export type ResolvedOptions = Required<StateMachineOptions>;

export const DEFAULT_OPTIONS: ResolvedOptions = Object.freeze({
  tokenRetentionMs: 24 * 60 * 60 * 1000,
  tokensMax: 1_000_000,
  tokenFutureMsMax: 60 * 1000,
  evictionsPerCommandMax: 1000,
  tokenRules: 1,
});

export function resolveOptions(options: StateMachineOptions = {}): ResolvedOptions {
  const resolved = { ...DEFAULT_OPTIONS, ...stripUndefined(options) };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  }
  if (resolved.tokenRules > TOKEN_RULES_LATEST) throw new RangeError(`tokenRules must be at most ${TOKEN_RULES_LATEST}`);
  return resolved;
}

function stripUndefined(options: StateMachineOptions): StateMachineOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}
