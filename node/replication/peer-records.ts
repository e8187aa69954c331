/**
 * What a node keeps of its peers across restarts, outside the log: the addresses it learned from
 * their hellos (members.ts), and what each member said of its features (peer-features.ts: a
 * member down across a restart still counts as what it said; series commands, which have no
 * fallback, were refused for as long as it stayed down once the others restarted). Saved each
 * second when changed, members only: a removed node's word is not kept.
 */
import type { NodeId } from '../raft/types.ts';
import type { LmdbRaftStorage } from './lmdb-raft-storage.ts';
import type { Members } from './members.ts';
import type { PeerFeatures } from './peer-features.ts';

export interface PeerRecordsDeps {
  readonly storage: LmdbRaftStorage;
  readonly members: Members;
  readonly features: PeerFeatures;
  /** The shard's voters and learners now (undefined before the node is part of a shard). */
  readonly memberIds: () => readonly NodeId[] | undefined;
  readonly stopped: () => boolean;
  readonly log: (line: string) => void;
  /**
   * Saves failing this many times in a row: the store is broken, not busy (after a failed meta-page
   * write LMDB refuses every transaction), and the node stops as for any Raft storage write.
   */
  readonly onFatal: (err: Error) => void;
}

/** Failed saves in a row before the node stops (a transient error heals within a few tries). */
export const PEER_RECORD_FAILURES_MAX = 5;

/** What members said of their features when last saved. */
export function savedFeatures(storage: LmdbRaftStorage): Record<NodeId, string[]> {
  return storage.getMeta<Record<NodeId, string[]>>('peer-features') ?? {};
}

/** Saves both records each second when they changed; the timer to clear at shutdown. */
export function keepPeerRecords(d: PeerRecordsDeps): NodeJS.Timeout {
  let membersVersion = d.members.version;
  let featuresVersion = d.features.version;
  let failures = 0;
  const failed = (what: string, err: Error): void => {
    d.log(`saving ${what} failed: ${err.message}`);
    if (++failures === PEER_RECORD_FAILURES_MAX) d.onFatal(new Error(`saving ${what} failed ${failures} times in a row: ${err.message}`));
  };
  const saved = (): void => {
    failures = 0;
  };
  return setInterval(() => {
    if (d.stopped()) return;
    if (d.features.version !== featuresVersion) {
      featuresVersion = d.features.version;
      const ids = d.memberIds();
      const keep = ids === undefined ? null : new Set(ids);
      const features = Object.fromEntries(Object.entries(d.features.saved()).filter(([id]) => keep === null || keep.has(id)));
      const version = featuresVersion;
      // Saved again next second if this failed (a disk error): stale records would outlive it.
      d.storage.putMeta('peer-features', features).then(saved, (err: Error) => {
        failed('peer features', err);
        if (featuresVersion === version) featuresVersion = -1;
      });
    }
    if (d.members.version === membersVersion) return;
    const version = (membersVersion = d.members.version);
    d.storage.putMeta('members', d.members.image()).then(saved, (err: Error) => {
      failed('members', err);
      if (membersVersion === version) membersVersion = -1;
    });
  }, 1000);
}
