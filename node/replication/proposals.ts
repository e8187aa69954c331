/**
 * Client writes waiting for their log entry. A proposal succeeded iff the entry applied at its
 * index has its term; another term at that index means it was certainly lost (safe to retry).
 * Proposals that outlive `timeoutMs`, or whose index is covered by a snapshot from elsewhere,
 * have an unknown outcome: only a retry with the same ID token is safe.
 *
 * Several proposals may wait on one index: a node that leads again can propose at an index where
 * its earlier, uncommitted proposal was cut from its own log. That earlier entry is not lost: a
 * node that still holds it may lead later and commit it (found by a review, 5 voters). So it
 * keeps waiting; the entry that applies at the index settles every waiter by its term.
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
  /** Waiters by index; more than one only after this node led again (see above). */
  private readonly byIndex = new Map<number, Waiting[]>();

  constructor(private readonly timeoutMs: number, private readonly lostResult: () => CommandResult) {}

  get size(): number {
    return this.byIndex.size;
  }

  /** Resolves with the apply result(s), or null for entries without one (conf changes). */
  wait(ticket: ProposalTicket, nowMs: number): Promise<EntryResult> {
    return new Promise((resolve) => {
      const w: Waiting = { term: ticket.term, deadlineMs: nowMs + this.timeoutMs, resolve };
      const at = this.byIndex.get(ticket.index);
      if (at === undefined) this.byIndex.set(ticket.index, [w]);
      else at.push(w);
    });
  }

  /** The entry at `index` with `term` was applied with `result`: the only one that will ever be. */
  applied(index: number, term: number, result: EntryResult): void {
    const at = this.byIndex.get(index);
    if (!at) return;
    this.byIndex.delete(index);
    for (const w of at) w.resolve(w.term === term ? result : this.lostResult());
  }

  /** A snapshot installed from elsewhere covers every index <= `index`. */
  coveredBySnapshot(index: number): void {
    this.settleWhere((i) => i <= index, () => UNKNOWN_OUTCOME('a snapshot replaced the log'));
  }

  expire(nowMs: number): void {
    this.settleWhere((_, w) => w.deadlineMs <= nowMs, () => UNKNOWN_OUTCOME('timed out waiting for the log'));
  }

  failAll(result: CommandResult): void {
    this.settleWhere(() => true, () => result);
  }

  private settleWhere(due: (index: number, w: Waiting) => boolean, result: () => CommandResult): void {
    for (const [i, at] of this.byIndex) {
      if (!at.some((w) => due(i, w))) continue;
      const kept: Waiting[] = [];
      for (const w of at) {
        if (due(i, w)) w.resolve(result());
        else kept.push(w);
      }
      if (kept.length === 0) this.byIndex.delete(i);
      else this.byIndex.set(i, kept);
    }
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
    // Still the leader, handing over: NOTLEADER would name this node and send the router back here.
    case RaftErrorCode.TRANSFERRING:
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
