/**
 * Client writes waiting for their log entry. A proposal succeeded iff the entry applied at its
 * index has its term; another term at that index means it was certainly lost (safe to retry).
 * Proposals that outlive `timeoutMs`, or whose index is covered by a snapshot from elsewhere,
 * have an unknown outcome: only a retry with the same ID token is safe.
 */
import { ErrorCode } from '../../shared/errors.ts';
import { errorResult, type CommandResult } from '../state-machine/index.ts';
import { RaftError, RaftErrorCode, type NodeId, type ProposalTicket, type RaftStatus } from '../raft/types.ts';
import type { EntryResult } from './write-batch.ts';
import type { RawNode } from '../raft/raw-node.ts';

interface Waiting {
  readonly term: number;
  readonly deadlineMs: number;
  readonly resolve: (r: EntryResult) => void;
}

export const UNKNOWN_OUTCOME = (why: string): CommandResult =>
  errorResult(ErrorCode.OUTCOME_UNKNOWN, `${why}; the write may or may not have applied: retry only with the same ID token`);

export class Proposals {
  private readonly byIndex = new Map<number, Waiting>();

  constructor(private readonly timeoutMs: number, private readonly lostResult: () => CommandResult) {}

  get size(): number {
    return this.byIndex.size;
  }

  /** Resolves with the apply result(s), or null for entries without one (conf changes). */
  wait(ticket: ProposalTicket, nowMs: number): Promise<EntryResult> {
    return new Promise((resolve) => {
      this.byIndex.get(ticket.index)?.resolve(this.lostResult());
      this.byIndex.set(ticket.index, { term: ticket.term, deadlineMs: nowMs + this.timeoutMs, resolve });
    });
  }

  /** The entry at `index` with `term` was applied with `result`. */
  applied(index: number, term: number, result: EntryResult): void {
    const w = this.byIndex.get(index);
    if (!w) return;
    this.byIndex.delete(index);
    w.resolve(w.term === term ? result : this.lostResult());
  }

  /** A snapshot installed from elsewhere covers every index <= `index`. */
  coveredBySnapshot(index: number): void {
    for (const [i, w] of this.byIndex) {
      if (i > index) continue;
      this.byIndex.delete(i);
      w.resolve(UNKNOWN_OUTCOME('a snapshot replaced the log'));
    }
  }

  expire(nowMs: number): void {
    for (const [i, w] of this.byIndex) {
      if (w.deadlineMs > nowMs) continue;
      this.byIndex.delete(i);
      w.resolve(UNKNOWN_OUTCOME('timed out waiting for the log'));
    }
  }

  failAll(result: CommandResult): void {
    for (const w of this.byIndex.values()) w.resolve(result);
    this.byIndex.clear();
  }
}

/** The reply for a write the Raft core refused to propose. */
export function proposeErrorResult(err: unknown, notLeader: () => CommandResult): CommandResult {
  if (!(err instanceof RaftError)) throw err;
  switch (err.code) {
    case RaftErrorCode.UNCOMMITTED_FULL:
      return errorResult(ErrorCode.BUSY, 'too many uncommitted writes');
    case RaftErrorCode.CONF_CHANGE_PENDING:
    case RaftErrorCode.NOT_READY:
      return errorResult(ErrorCode.TRY_AGAIN, err.message);
    case RaftErrorCode.INVALID_CONF_CHANGE:
      return errorResult(ErrorCode.SYNTAX, err.message);
    default:
      return notLeader();
  }
}

/**
 * Leader: proposes the promotion of one learner that has caught up (one conf change at a time).
 * Returns whether it proposed; a refusal (CONF_CHANGE_PENDING, NOT_READY) means "after the next Ready".
 */
export function promoteCaughtUpLearner(raw: Pick<RawNode, 'proposeConfChange'>, st: RaftStatus, log: (line: string) => void): boolean {
  const id = learnerToPromote(st);
  if (id === null) return false;
  try {
    raw.proposeConfChange({ type: 'promote', nodeId: id });
    log(`promoting learner ${id} (match ${st.progress?.[id]?.match}, last ${st.lastIndex})`);
    return true;
  } catch {
    return false;
  }
}

/** A learner that has caught up and is heard from (promote one at a time), or null. */
export function learnerToPromote(st: RaftStatus): NodeId | null {
  if (st.conf.learners.length === 0 || !st.progress) return null;
  for (const id of st.conf.learners) {
    const pr = st.progress[id];
    if (pr && pr.recentActive && pr.state === 'replicate' && pr.match + 16 >= st.lastIndex) return id;
  }
  return null;
}
