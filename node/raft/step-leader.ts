import type { Raft } from './raft.ts';
import { recordEcho } from './leader-clock.ts';
import { hasQuorum } from './quorum.ts';
import { commitMoved, maybeCommit, pipeline, sendAppend, sendTimeoutNow } from './replication.ts';
import type { Message } from './types.ts';

export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case 'appResp':
      handleAppResp(r, m);
      return;
    case 'heartbeatResp':
      handleHeartbeatResp(r, m);
      return;
    default:
      // vote/preVote were answered by the common step; stale responses and timeoutNow are ignored.
      return;
  }
}

function handleAppResp(r: Raft, m: Message): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  recordEcho(r, pr, m);
  if (m.reject) {
    let next = m.rejectHint;
    // Skip the follower's whole conflicting term: probe at our last index with term <= its term.
    if (m.logTerm > 0) next = r.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
    if (pr.maybeDecrTo(m.index, next)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      sendAppend(r, m.from);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe'))) return;
  if (pr.state === 'probe') pr.becomeReplicate();
  else if (pr.state === 'snapshot') {
    if (pr.match + 1 >= r.log.firstIndex()) {
      // Caught up through the snapshot (or by other means): resume normal replication.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.match >= pr.pendingSnapshot) {
      // Installed, but the log was compacted further meanwhile: probe, which sends a newer one.
      pr.becomeProbe();
    }
  } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

  const from = r.log.committed;
  if (maybeCommit(r)) commitMoved(r, from);
  else if (wasPaused) sendAppend(r, m.from, pr.sentCommit < r.log.committed);
  // Keep the pipeline full: send what remains, within the inflight window.
  pipeline(r, m.from);
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) sendTimeoutNow(r, m.from);
}

function handleHeartbeatResp(r: Raft, m: Message): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  recordEcho(r, pr, m);
  if (pr.probeOverdue(m.stamp)) pr.probeSent = false;
  // A full window with a live peer means app messages were lost: let one more through so
  // its rejection (or ack) resynchronizes us.
  if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
  if (pr.match < r.log.lastIndex()) sendAppend(r, m.from);
  if (m.context === undefined || pr.learner) return;
  const acks = r.readOnly.ack(m.context, m.from);
  if (acks === undefined || !hasQuorum(r.conf.voters, acks)) return;
  for (const rs of r.readOnly.release(m.context)) r.readStates.push(rs);
}
