/**
 * Safety invariants of the core. A violation is a bug (or corrupted storage), never a
 * recoverable condition: the error names the invariant so a simulator trace points at it.
 */
export class InvariantError extends Error {
  readonly invariant: string;
  constructor(invariant: string, detail: string) {
    super(`raft invariant "${invariant}" violated: ${detail}`);
    this.name = 'InvariantError';
    this.invariant = invariant;
  }
}

export function invariant(cond: boolean, name: string, detail: () => string): asserts cond {
  if (!cond) throw new InvariantError(name, detail());
}

export const Invariant = {
  TERM_MONOTONIC: 'term never decreases',
  COMMIT_LE_LAST: 'commit <= last index',
  APPLIED_LE_COMMIT: 'applied <= commit',
  ONE_VOTE_PER_TERM: 'one vote per term',
  LEADER_APPEND_ONLY: 'a leader never truncates its own log',
  COMMITTED_NEVER_TRUNCATED: 'committed entries are never truncated',
  COMMIT_MONOTONIC: 'commit never decreases',
  LEADER_VOTED_SELF: 'a leader voted for itself in its term',
  NO_SKIPPED_APPLY: 'committed entries are never skipped (storage compacted past applied)',
  SNAPSHOT_IN_LOG: 'the stored snapshot lies between the compaction point and the last index',
} as const;
