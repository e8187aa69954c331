/**
 * When the catalog leader builds the slot table (agent.ts): a heuristic about distribution only,
 * since whatever set of shards it picks, exactly one table is committed (router/DESIGN.md).
 *
 * - Every shard seen by discovery must have registered (or `initWaitMaxMs` passed since the
 *   first registration, for a shard that never forms), and at least `shardsExpect`.
 * - Then, if the operator said how many shards to expect (`--shards-expect`), they are all here:
 *   build it now. Otherwise wait until no registration changed the set for `settleMs`, so that
 *   shards started together all get slots. That wait cost every `seqdb dev` start and every test
 *   cluster 1.5 s before the first INC although dev always says how many shards it starts.
 */
export interface InitState {
  /** Registered shard ids. */
  readonly registered: readonly string[];
  /** Shard ids seen by discovery. */
  readonly known: readonly string[];
  /** `--shards-expect`, if given. */
  readonly shardsExpect: number | undefined;
  /** Monotonic ms of the first registration seen, 0 if none yet. */
  readonly firstRegisteredMs: number;
  /** Monotonic ms of the last change of the registered set. */
  readonly lastChangeMs: number;
  readonly nowMs: number;
  readonly settleMs: number;
  readonly initWaitMaxMs: number;
}

export function initDue(s: InitState): boolean {
  const missing = s.known.some((id) => !s.registered.includes(id));
  const waitedOut = s.firstRegisteredMs > 0 && s.nowMs - s.firstRegisteredMs > s.initWaitMaxMs;
  if ((missing && !waitedOut) || s.registered.length < (s.shardsExpect ?? 1)) return false;
  if (s.shardsExpect !== undefined) return true;
  return s.nowMs - s.lastChangeMs >= s.settleMs;
}
