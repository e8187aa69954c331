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
}

export type ResolvedOptions = Required<StateMachineOptions>;

export const DEFAULT_OPTIONS: ResolvedOptions = Object.freeze({
  tokenRetentionMs: 24 * 60 * 60 * 1000,
  tokensMax: 1_000_000,
  tokenFutureMsMax: 60 * 1000,
  evictionsPerCommandMax: 1000,
});

export function resolveOptions(options: StateMachineOptions = {}): ResolvedOptions {
  const resolved = { ...DEFAULT_OPTIONS, ...stripUndefined(options) };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  }
  return resolved;
}

function stripUndefined(options: StateMachineOptions): StateMachineOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}
