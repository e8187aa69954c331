/** Snapshot images (state + members envelope, members.ts) into and out of the state machine. */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import type { ConfState } from '../raft/types.ts';
import type { LmdbStore } from '../state-machine/index.ts';
import { SLICE_BYTES } from '../state-machine/snapshot.ts';
import type { LmdbRaftStorage } from './lmdb-raft-storage.ts';
import { snapshotEnvelopeHead, unwrapSnapshotChunks, type Members } from './members.ts';
import { refuseNewerTokenRules } from '../state-machine/token-options.ts';

/**
 * Replaces the state machine (and members) with the raft storage's current snapshot image, read
 * chunk by chunk as the import goes: at 1M sequences a whole image plus its decoded entries took
 * ~160 MB more heap than the node needs otherwise.
 */
export async function restoreStateFromSnapshot(store: LmdbStore, members: Members, storage: LmdbRaftStorage): Promise<void> {
  // Every consumer below copies what it keeps past the next chunk (unwrapSnapshotChunks,
  // snapshotEntryViews): one reused buffer instead of a garbage one per chunk.
  const chunks = storage.snapshotChunks({ reuse: true });
  try {
    const env = unwrapSnapshotChunks(chunks);
    if (!env) throw new SeqError(ErrorCode.INTERNAL, 'snapshot image has no SeqDB envelope');
    await store.importSnapshot(env.state);
    // Here, not at each caller: a member rebuilding its state after an OS restart imports its
    // own snapshot too (shard-start.ts), and skipped the startup check (a review).
    store.read((kv) => refuseNewerTokenRules(kv, 'the Raft snapshot'));
    members.restore(env.members);
  } finally {
    chunks.return(undefined); // releases the image's read transaction whatever happened
  }
}

/**
 * Saves the state at `index` (nothing applied beyond it may be committed to the store yet) as the
 * Raft storage's snapshot, streamed chunk by chunk, then compacts the log to the previous
 * snapshot, keeping at most `catchUpEntriesMax` entries below this one: a follower that lags by
 * less (a restart, a short partition) catches up from the log instead of being sent the whole
 * image (46 MiB at 1M sequences), as etcd keeps SnapshotCatchUpEntries. Bounded by a count too
 * because an interval is at least an image's worth of bytes (the snapshot rule), ~500,000 small
 * entries at 1M sequences, whose per-entry index the log keeps in memory (a review) and which a
 * follower near their start would be sent one by one. Resolves with the image's size and the
 * compaction point, or null if a newer snapshot was installed meanwhile.
 */
export async function saveLocalSnapshot(
  d: { readonly storage: LmdbRaftStorage; readonly store: LmdbStore; readonly members: Members },
  index: number,
  conf: ConfState,
  catchUpEntriesMax: number,
): Promise<{ readonly bytes: number; readonly compactedTo: number } | null> {
  const term = d.storage.term(index);
  const previous = d.storage.snapshotIndex();
  // One reused chunk buffer (encodeSnapshot `reuse`): putStreamed copies each chunk before it asks
  // for the next, one per turn of the loop.
  const state = pinned(d.store.exportSnapshot(SLICE_BYTES, true));
  const head = snapshotEnvelopeHead(d.members.image());
  let bytes = head.length;
  const chunks = (function* (): Generator<Uint8Array> {
    yield head;
    for (const c of state) {
      bytes += c.length;
      yield c;
    }
  })();
  if (!(await d.storage.saveSnapshotStreamed({ index, term, conf }, chunks))) return null;
  // A repair rewrites the image at the same index (local-snapshots.ts): the log stays as it is.
  if (previous < index) await d.storage.compact(Math.max(previous, index - catchUpEntriesMax));
  return { bytes, compactedTo: d.storage.firstIndex() - 1 };
}

/**
 * Starts a generator now (its first step opens the read transaction it exports from) and yields
 * the same values later: the snapshot must be the state at the moment it was decided.
 */
function pinned<T>(gen: Generator<T>): Iterable<T> {
  const first = gen.next();
  return {
    *[Symbol.iterator]() {
      try {
        if (first.done) return;
        yield first.value;
        yield* { [Symbol.iterator]: () => gen };
      } finally {
        gen.return(undefined);
      }
    },
  };
}
