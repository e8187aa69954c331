import { applyConfChange, confChangeError } from './conf-change.ts';
import { encodeConfChangeEntry } from './conf-change-codec.ts';
import { entrySize } from './entry-size.ts';
import type { Raft } from './raft.ts';
import { bcastHeartbeat, sendAppend, sendTimeoutNow } from './replication.ts';
import {
  EntryType,
  RaftError,
  RaftErrorCode,
  type ConfChange,
  type Entry,
  type NodeId,
  type ProposalTicket,
} from './types.ts';

function requireLeader(r: Raft): void {
  if (r.role !== 'leader') throw new RaftError(RaftErrorCode.NOT_LEADER, `${r.id} is not the leader (leader: ${r.lead ?? 'unknown'})`);
}

/** The leader committed an entry of its own term, so its commit index is current (§6.4). */
function committedInTerm(r: Raft): boolean {
  return r.log.term(r.log.committed) === r.term;
}

export function propose(r: Raft, data: Uint8Array, type: EntryType = EntryType.Normal): ProposalTicket {
  requireLeader(r);
  if (r.leadTransferee !== null) {
    throw new RaftError(RaftErrorCode.TRANSFERRING, `leadership moving to ${r.leadTransferee}`);
  }
  const e: Entry = { index: 0, term: 0, type, data };
  const size = entrySize(e);
  // Conf entries carry the membership (small, bounded by the group size): never refused.
  if (size > r.cfg.maxMsgBytes && type !== EntryType.ConfChange) {
    throw new RaftError(RaftErrorCode.TOO_LARGE, `entry of ${size} bytes exceeds maxMsgBytes ${r.cfg.maxMsgBytes}`);
  }
  // An empty window always admits one entry, so an entry larger than the bound still goes through alone.
  const held = r.uncommitted.bytes;
  if (held > 0 && held + size > r.cfg.maxUncommittedBytes) {
    throw new RaftError(RaftErrorCode.UNCOMMITTED_FULL, `${held} uncommitted bytes`);
  }
  const [appended] = r.appendEntries([e]);
  r.uncommitted.add(appended!.index, size);
  // Sent at the next ready(): every proposal until then travels in the same app message.
  r.pendingBcast = true;
  return { index: appended!.index, term: appended!.term };
}

export function proposeConfChange(r: Raft, cc: ConfChange): ProposalTicket {
  requireLeader(r);
  if (!committedInTerm(r)) throw new RaftError(RaftErrorCode.NOT_READY, 'no entry of this term committed yet');
  if (r.pendingConfIndex > r.log.applied) {
    throw new RaftError(RaftErrorCode.CONF_CHANGE_PENDING, `conf change at ${r.pendingConfIndex} not applied yet`);
  }
  const why = confChangeError(r.conf, cc);
  if (why !== null) throw new RaftError(RaftErrorCode.INVALID_CONF_CHANGE, why);
  const ticket = propose(r, encodeConfChangeEntry(cc, applyConfChange(r.conf, cc)), EntryType.ConfChange);
  r.pendingConfIndex = ticket.index;
  return ticket;
}

/**
 * ReadIndex (§6.4): remember commit now, confirm leadership with a heartbeat round carrying
 * `context`; the ReadState comes out when a majority of voters answered.
 */
export function readIndex(r: Raft, context: string): void {
  // Pending reads are dropped on any role change; the driver times its requests out.
  requireLeader(r);
  if (!committedInTerm(r)) throw new RaftError(RaftErrorCode.NOT_READY, 'no entry of this term committed yet');
  if (r.conf.voters.length === 1 && r.isVoter(r.id)) {
    r.readStates.push({ index: r.log.committed, context });
    return;
  }
  if (r.readOnly.has(context)) return;
  if (r.readOnly.size() >= r.cfg.maxPendingReads) {
    throw new RaftError(RaftErrorCode.READS_FULL, `${r.readOnly.size()} reads awaiting confirmation`);
  }
  r.readOnly.add(r.log.committed, context, r.id);
  bcastHeartbeat(r, context);
}

/**
 * Leadership transfer (§3.10): refuse proposals, bring `to` up to date, then TimeoutNow.
 * Ignored on a non-leader, for self, for a non-voter or a transfer already under way to `to`.
 */
export function transferLeadership(r: Raft, to: NodeId): void {
  if (r.role !== 'leader' || to === r.id || !r.isVoter(to)) return;
  if (r.leadTransferee === to) return;
  const pr = r.progress.get(to);
  if (pr === undefined) return;
  r.leadTransferee = to;
  // The transfer must finish within one election timeout (tickLeader aborts it).
  r.transferElapsed = 0;
  if (pr.match === r.log.lastIndex()) sendTimeoutNow(r, to);
  else sendAppend(r, to);
}
