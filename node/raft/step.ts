import { handleVoteRequest, hup } from './election.ts';
import type { Raft } from './raft.ts';
import { bcastHeartbeat } from './replication.ts';
import { stepCandidate, stepFollower } from './step-follower.ts';
import { stepLeader } from './step-leader.ts';
import type { Message } from './types.ts';

/**
 * Every incoming message: term handling common to all roles (§5.1, pre-vote §9.6, leader
 * lease §4.2.3), then the role's step function.
 */
export function step(r: Raft, m: Message): void {
  if (m.to !== r.id) return;
  let timer: { elapsed: number; timeout: number } | undefined;
  if (m.term > r.term) {
    if (m.type === 'vote' || m.type === 'preVote') {
      // While we hear from a live leader, a vote request comes from a node that was cut off
      // (or removed): ignore it, without adopting its term, unless a transfer forced it.
      if (m.context !== 'transfer' && r.inLease()) return;
    }
    if (m.type === 'preVote') {
      // Never adopt a pre-vote's term: that is what stops term inflation.
    } else if (m.type === 'preVoteResp' && !m.reject) {
      // A grant carries the future term of our pre-election; the term changes only if we win.
    } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
      r.becomeFollower(m.term, m.from);
    } else {
      // A vote request we end up rejecting must not restart our election timer (Figure 2:
      // only the leader's messages and granted votes do), or candidates with stale logs and
      // faster clocks keep the electable nodes from ever timing out.
      if (m.type === 'vote' && r.role !== 'leader') timer = { elapsed: r.electionElapsed, timeout: r.randomizedElectionTimeout };
      r.becomeFollower(m.term, null);
    }
  } else if (m.term < r.term) {
    if ((r.cfg.checkQuorum || r.cfg.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
      // A stale leader (or one that a partitioned node with an inflated term no longer
      // recognizes): answer so the sender learns our term instead of waiting forever.
      r.send({ type: 'appResp', to: m.from });
    } else if (m.type === 'preVote') {
      r.send({ type: 'preVoteResp', to: m.from, term: r.term, reject: true });
    }
    return;
  }
  if (m.type === 'vote' || m.type === 'preVote') {
    handleVoteRequest(r, m);
    if (timer !== undefined && r.vote !== m.from) {
      r.electionElapsed = timer.elapsed;
      r.randomizedElectionTimeout = timer.timeout;
    }
    return;
  }
  if (r.role === 'leader') stepLeader(r, m);
  else if (r.role === 'follower') stepFollower(r, m);
  else stepCandidate(r, m);
}

export function tick(r: Raft): void {
  if (r.role === 'leader') tickLeader(r);
  else tickElection(r);
}

function tickElection(r: Raft): void {
  r.electionElapsed++;
  if (r.promotable() && r.pastElectionTimeout()) {
    r.electionElapsed = 0;
    hup(r, 'election');
  }
}

function tickLeader(r: Raft): void {
  r.heartbeatElapsed++;
  r.electionElapsed++;
  if (r.electionElapsed >= r.cfg.electionTimeoutTicks) {
    r.electionElapsed = 0;
    if (r.cfg.checkQuorum && !r.quorumActive()) {
      r.becomeFollower(r.term, null);
      return;
    }
  }
  // A transfer that did not finish within an election timeout is abandoned (§3.10). Its own
  // clock: restarting the quorum check's clock would let repeated requests keep a cut-off
  // leader in place.
  if (r.leadTransferee !== null && ++r.transferElapsed >= r.cfg.electionTimeoutTicks) r.leadTransferee = null;
  expireSnapshots(r);
  if (r.heartbeatElapsed >= r.cfg.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    bcastHeartbeat(r);
  }
}

/**
 * A snapshot message can be lost without the driver noticing (a simulated network, a dropped
 * connection). Rather than pause the peer forever, treat a snapshot unanswered for a few
 * election timeouts as failed; reportSnapshot remains the prompt path.
 */
function expireSnapshots(r: Raft): void {
  const limit = SNAPSHOT_TIMEOUT_ELECTIONS * r.cfg.electionTimeoutTicks;
  for (const pr of r.progress.values()) {
    if (pr.state !== 'snapshot' || ++pr.snapshotTicks < limit) continue;
    pr.pendingSnapshot = 0;
    pr.becomeProbe();
  }
}

const SNAPSHOT_TIMEOUT_ELECTIONS = 3;
