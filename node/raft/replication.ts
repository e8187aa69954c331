import type { Progress } from './progress.ts';
import { committedIndex } from './quorum.ts';
import type { Raft } from './raft.ts';
import { RaftError, RaftErrorCode, type Entry, type NodeId } from './types.ts';

/**
 * Leader: send `to` the next app message its progress allows (or a snapshot when the entries
 * it needs are compacted). Returns whether a message was sent. With sendIfEmpty false an
 * app without entries is not sent (used to keep pipelining until nothing is left).
 */
export function sendAppend(r: Raft, to: NodeId, sendIfEmpty = true): boolean {
  const pr = r.progress.get(to);
  if (pr === undefined || to === r.id || pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.term(prevIndex);
  if (prevTerm === undefined) return sendSnapshot(r, to, pr);
  let ents: Entry[];
  try {
    ents = r.log.slice(pr.next, r.log.lastIndex() + 1, r.cfg.maxMsgBytes);
  } catch (e) {
    if (e instanceof RaftError && e.code === RaftErrorCode.COMPACTED) return sendSnapshot(r, to, pr);
    throw e;
  }
  if (ents.length === 0 && !sendIfEmpty) return false;
  const stamp = r.send({ type: 'app', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: r.log.committed });
  pr.sentEntries(prevIndex + ents.length, ents.length, stamp);
  pr.sentCommit = Math.max(pr.sentCommit, r.log.committed);
  return true;
}

function sendSnapshot(r: Raft, to: NodeId, pr: Progress): boolean {
  // A peer we have not heard from recently may be down; don't ship it a whole snapshot.
  if (!pr.recentActive) return false;
  let snapshot;
  try {
    snapshot = r.log.storage.snapshot();
  } catch (e) {
    // A storage may be building one right now; the next heartbeat response retries.
    if (e instanceof RaftError && e.code === RaftErrorCode.UNAVAILABLE) return false;
    throw e;
  }
  if (snapshot.meta.index === 0) return false;
  r.send({ type: 'snap', to, snapshot });
  pr.becomeSnapshot(snapshot.meta.index);
  return true;
}

/**
 * Sends every peer what it lacks: one message in probe state, up to the window in replicate. A
 * replicating peer that needs no entries gets an empty app only if the commit index moved since
 * its last app: under load the commit rides the next entries (see commitMoved), so a batch costs
 * one app and one ack per peer instead of two of each.
 */
export function bcastAppend(r: Raft): void {
  for (const [id, pr] of r.progress) {
    if (id === r.id) continue;
    sendAppend(r, id, pr.state !== 'replicate' || pr.sentCommit < r.log.committed);
    pipeline(r, id);
  }
}

/**
 * The leader's commit index moved from `from`. With sendCommitOnlyApps, or when the commit
 * passed `pendingConfIndex` (a conf change just committed; or a term's first commit, since an
 * election sets it to the last index), tell the peers at the next Ready (RawNode.ready), not at
 * once, so that the proposals of this loop turn go out in the same app as the new commit.
 * Otherwise (the default) the next app or heartbeat carries it: at one client the empty apps and
 * their acks were ~15% of the shard's CPU per INC (bench/README), and the leader wrote them to
 * its followers' sockets before it applied and answered. A conf change's commit still goes at
 * once: a node it removes hears nothing from the leader once it is applied, and a deposed
 * leader's proposals on that node would otherwise never learn their fate (the simulator's
 * removed-but-running nodes found it); members also learn their new membership sooner.
 */
export function commitMoved(r: Raft, from: number): void {
  const confCommitted = r.pendingConfIndex > from && r.pendingConfIndex <= r.log.committed;
  if (r.cfg.sendCommitOnlyApps || confCommitted) r.pendingBcast = true;
}

/** Keeps a replicating peer's window full with what remains to send (bounded by the window). */
export function pipeline(r: Raft, id: NodeId): void {
  let bound = r.cfg.maxInflightMsgs;
  while (bound-- > 0 && sendAppend(r, id, false));
}

/** Heartbeats carry commit only up to what each peer is known to have (it may lack the rest). */
export function bcastHeartbeat(r: Raft, context?: string): void {
  for (const [id, pr] of r.progress) {
    if (id === r.id) continue;
    const commit = Math.min(pr.match, r.log.committed);
    r.send({ type: 'heartbeat', to: id, commit, context });
  }
}

/**
 * Advances commit to the largest index a majority of voters (the leader's own durable copy
 * included) holds, but only if that entry is of the current term (§5.4.2).
 */
export function maybeCommit(r: Raft): boolean {
  const mci = committedIndex(r.conf.voters, (id) => r.progress.get(id)?.match ?? 0);
  if (mci > r.log.committed && r.log.term(mci) === r.term) {
    r.log.commitTo(mci);
    r.uncommitted.commitTo(mci);
    return true;
  }
  return false;
}

export function sendTimeoutNow(r: Raft, to: NodeId): void {
  r.send({ type: 'timeoutNow', to });
}
