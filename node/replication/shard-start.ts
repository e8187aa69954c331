/**
 * How a replica's shard begins, apart from joining (cluster-join.ts): the founder's first
 * snapshot, what a restarted node rebuilds from its own log before Raft starts, and the founder
 * adding the nodes it counted as learners at once. Used by replica-node.ts only.
 */
import { EntryType, type NodeId } from '../raft/types.ts';
import { setAppliedIndex, type LmdbStore } from '../state-machine/index.ts';
import type { ProbeReply } from './cluster-join.ts';
import type { LmdbRaftStorage } from './lmdb-raft-storage.ts';
import { type MembersImage, type Members, unwrapSnapshot, wrapSnapshot } from './members.ts';
import type { RaftNode } from './raft-node.ts';
import { restoreStateFromSnapshot } from './snapshot-image.ts';
import { markSharded } from '../ownership/ownership.ts';
import { setTokenOptions, type StoredTokenOptions } from '../state-machine/token-options.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';
import { withTimeout } from '../../shared/with-timeout.ts';

/** The first node of a new shard: a snapshot at index 1 with itself as the only voter. */
export async function bootstrapShard(storage: LmdbRaftStorage, store: LmdbStore, members: Members, nodeId: NodeId, shardedAs: string | null, tokenOptions: StoredTokenOptions): Promise<void> {
  await store.write((txn) => {
    setAppliedIndex(txn, 1);
    // Every replica applies every entry with the same token options, read from the state
    // (node/state-machine/token-options.ts): from the first index on, those of the founder.
    setTokenOptions(txn, tokenOptions);
    // Sharded mode is committed state from the first index on (node/ownership/ownership.ts).
    if (shardedAs !== null) markSharded(txn, shardedAs);
  });
  const data = wrapSnapshot(members.image(), [...store.exportSnapshot()]);
  await storage.bootstrap({ voters: [nodeId], learners: [] }, data);
}

/** Rebuilds what the log implies but the state machine may lack after a crash. */
export async function recoverLocalState(storage: LmdbRaftStorage, store: LmdbStore, members: Members, selfAddr: string): Promise<void> {
  // The log may begin below the snapshot (entries kept for lagging followers, snapshot-image.ts).
  const snapIndex = storage.snapshotIndex();
  if (snapIndex > 0 && store.appliedIndex() < snapIndex) {
    // Crashed between persisting a received snapshot and importing it, or the unsynced state was
    // discarded after an OS restart (state-reboot-guard.ts): import the stored image now.
    await restoreStateFromSnapshot(store, members, storage);
  } else if (snapIndex > 0) {
    // Only the members envelope is needed: read the head stored beside the image, not the image.
    const head = storage.snapshotHead();
    const env = unwrapSnapshot(head ?? storage.snapshot().data) ?? unwrapSnapshot(storage.snapshot().data);
    if (env) members.restore(env.members);
  }
  const saved = storage.getMeta<MembersImage>('members');
  if (saved) for (const [id, addr] of Object.entries(saved.members)) members.learnAddress(id, addr);
  // Applied entries are committed too, and the stored commit can lag them (a leader's commit is
  // written with its next entries, clamped to them): the members must see every applied conf change.
  const last = Math.min(Math.max(storage.hardState().commit, store.appliedIndex()), storage.lastIndex());
  for (const e of storage.entriesOfType(EntryType.ConfChange, snapIndex + 1, last + 1)) members.applyEntry(e);
  members.learnAddress(storage.identity.nodeId, selfAddr);
}

/**
 * The bootstrap leader adds every node it counted as a learner, back to back (one conf change in
 * flight at a time, each proposed as soon as the previous one applied), instead of waiting for
 * each node's next join request: the shard spends less time with one or two voters, the window
 * in which losing the bootstrap node stalls it (DESIGN.md, "Forming a shard"). Bounded by 30 s;
 * join requests add any node this misses. `added` hears of each node just before its change is
 * proposed (what it announced when counted: the leader need not ask it again before INCS).
 */
export async function addLearnersAtOnce(n: RaftNode, peers: readonly ProbeReply[], members: Members, stopped: () => boolean, log: (l: string) => void, added: (peer: ProbeReply) => void): Promise<void> {
  const deadline = monoNowMs() + 30_000;
  const pending = new Map(peers.map((p) => [p.nodeId, p]));
  while (pending.size > 0 && !stopped() && monoNowMs() < deadline) {
    const st = n.status();
    for (const id of [...pending.keys()]) {
      // Removed meanwhile (an operator's SEQDB.REMOVE within these 30 s): never add it back.
      if (st.conf.voters.includes(id) || st.conf.learners.includes(id) || members.isRemoved(id)) pending.delete(id);
    }
    const next = pending.entries().next();
    if (next.done) return;
    if (st.role !== 'leader') {
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    const [id, peer] = next.value;
    const addr = peer.addr;
    added(peer);
    const r = await withTimeout(n.changeMembers({ type: 'addLearner', nodeId: id, context: addr }), 1000);
    if (r && r.type !== 'error') log(`adding learner ${id} at ${addr} (counted at bootstrap)`);
    // A pending conf change (a promotion, a join request's add) means: try again shortly.
    else await new Promise((r) => setTimeout(r, 10));
  }
}
