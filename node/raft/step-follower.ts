import { poll, winElection, hup } from './election.ts';
import { Invariant, invariant } from './invariants.ts';
import { heardFresh } from './leader-clock.ts';
import type { Raft } from './raft.ts';
import type { Message } from './types.ts';

export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case 'app':
    case 'heartbeat':
    case 'snap':
      // A message that waited on a slow link is applied but is no sign of a live leader.
      if (heardFresh(r, m)) r.electionElapsed = 0;
      r.lead = m.from;
      handleFromLeader(r, m);
      return;
    case 'timeoutNow':
      // Leadership transfer (§3.10): campaign now, skipping pre-vote; voters skip the lease check.
      hup(r, 'transfer');
      return;
    default:
      return;
  }
}

function handleFromLeader(r: Raft, m: Message): void {
  if (m.type === 'app') handleAppend(r, m);
  else if (m.type === 'heartbeat') handleHeartbeat(r, m);
  else handleSnapshot(r, m);
}

/** Candidate and pre-candidate. */
export function stepCandidate(r: Raft, m: Message): void {
  const respType = r.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
  switch (m.type) {
    case 'app':
    case 'heartbeat':
    case 'snap':
      // A late message of the leader we stopped hearing from freshly: its content counts, but
      // it must not end the pre-election (on a slow link one arrives every few ms).
      if (r.role === 'preCandidate' && m.term === r.term && !heardFresh(r, m)) {
        handleFromLeader(r, m);
        return;
      }
      // A leader exists in our term (or, for a pre-candidate, a newer or equal one).
      r.becomeFollower(m.term, m.from);
      stepFollower(r, m);
      return;
    case 'timeoutNow':
      // Leadership transfer: a follower that took the leader's late messages for silence is a
      // pre-candidate, and still the target the leader chose (a review: transfers were lost).
      if (r.role === 'preCandidate') hup(r, 'transfer');
      return;
    case respType: {
      const res = poll(r, m.from, !m.reject);
      if (res === 'won') winElection(r, r.role === 'preCandidate' ? 'preElection' : 'election');
      else if (res === 'lost') r.becomeFollower(r.term, null);
      return;
    }
    default:
      return;
  }
}

/** AppendEntries on a follower: consistency check, conflict truncation, fast-backoff hint. */
export function handleAppend(r: Raft, m: Message): void {
  invariant(r.role !== 'leader', Invariant.LEADER_APPEND_ONLY, () => `leader ${r.id} handling app from ${m.from}`);
  if (m.index < r.log.committed) {
    r.send({ type: 'appResp', to: m.from, index: r.log.committed, stamp: m.stamp });
    return;
  }
  const lastNew = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew !== undefined) {
    r.send({ type: 'appResp', to: m.from, index: lastNew, stamp: m.stamp });
    return;
  }
  // Tell the leader where to probe: the last index <= its prev index whose term is <= its prev
  // term; the leader skips every index in between (one round trip per term, not per entry).
  const hint = r.log.findConflictByTerm(Math.min(m.index, r.log.lastIndex()), m.logTerm);
  r.send({ type: 'appResp', to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term, stamp: m.stamp });
}

export function handleHeartbeat(r: Raft, m: Message): void {
  r.log.commitTo(Math.min(m.commit, r.log.lastIndex()));
  r.send({ type: 'heartbeatResp', to: m.from, context: m.context, stamp: m.stamp });
}

/** InstallSnapshot: restore unless our log already has it, then report our last index. */
export function handleSnapshot(r: Raft, m: Message): void {
  const s = m.snapshot;
  if (s === undefined) return;
  if (s.meta.index <= r.log.committed) {
    r.send({ type: 'appResp', to: m.from, index: r.log.committed, stamp: m.stamp });
    return;
  }
  if (r.log.matchTerm(s.meta.index, s.meta.term)) {
    // We hold the snapshot's last entry: by log matching everything before it agrees too.
    r.log.commitTo(s.meta.index);
    r.send({ type: 'appResp', to: m.from, index: r.log.committed, stamp: m.stamp });
    return;
  }
  r.log.restore(s);
  r.conf = { voters: [...s.meta.conf.voters], learners: [...s.meta.conf.learners] };
  r.confIndex = s.meta.index;
  r.send({ type: 'appResp', to: m.from, index: r.log.lastIndex(), stamp: m.stamp });
}
