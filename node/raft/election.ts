import { voteResult } from './quorum.ts';
import { TRANSFER_CONTEXT, type CampaignType, type Raft } from './raft.ts';
import type { Message } from './types.ts';
import { bcastAppend } from './replication.ts';

/** Start an election if this node may: a voter, not leader, no committed conf change pending. */
export function hup(r: Raft, t: CampaignType): void {
  if (r.role === 'leader' || !r.promotable() || r.hasUnappliedConfChanges()) return;
  campaign(r, r.cfg.preVote && t === 'election' ? 'preElection' : t);
}

export function campaign(r: Raft, t: CampaignType): void {
  let voteTerm: number;
  if (t === 'preElection') {
    r.becomePreCandidate();
    voteTerm = r.term + 1; // the term we would campaign in; ours does not change yet
  } else {
    r.becomeCandidate();
    voteTerm = r.term;
  }
  if (poll(r, r.id, true) === 'won') {
    winElection(r, t);
    return;
  }
  const type = t === 'preElection' ? 'preVote' : 'vote';
  for (const id of r.conf.voters) {
    if (id === r.id) continue;
    r.send({
      type,
      to: id,
      term: voteTerm,
      index: r.log.lastIndex(),
      logTerm: r.log.lastTerm(),
      ...(t === 'transfer' ? { context: TRANSFER_CONTEXT } : {}),
    });
  }
}

export function poll(r: Raft, from: string, granted: boolean): 'won' | 'lost' | 'pending' {
  if (!r.votes.has(from)) r.votes.set(from, granted);
  return voteResult(r.conf.voters, r.votes);
}

export function winElection(r: Raft, t: CampaignType): void {
  if (t === 'preElection') {
    // A pre-candidate takes a late leader's entries (leader-clock.ts): what hup checked may
    // have changed meanwhile (a committed conf change not applied yet, this node removed).
    if (!r.promotable() || r.hasUnappliedConfChanges()) r.becomeFollower(r.term, null);
    else campaign(r, 'election');
  } else {
    r.becomeLeader();
    bcastAppend(r);
    r.pendingBcast = false;
  }
}

/**
 * A vote or pre-vote request at a term >= ours (lower terms were answered by the caller).
 * Grant when we have not voted for someone else in this term and know no leader, or for a
 * pre-vote in a future term; and the candidate's log is at least as up to date (§5.4.1).
 * The granted vote is recorded in the hard state, which the driver persists before sending.
 */
export function handleVoteRequest(r: Raft, m: Message): void {
  const respType = m.type === 'preVote' ? 'preVoteResp' : 'voteResp';
  const canVote =
    r.vote === m.from || (r.vote === null && r.lead === null) || (m.type === 'preVote' && m.term > r.term);
  if (canVote && r.log.isUpToDate(m.index, m.logTerm)) {
    // A pre-vote answer carries the asked term so the pre-candidate recognises it.
    r.send({ type: respType, to: m.from, term: m.term, reject: false });
    if (m.type === 'vote') {
      r.electionElapsed = 0;
      r.setVote(m.from);
    }
  } else {
    r.send({ type: respType, to: m.from, term: r.term, reject: true });
  }
}
