/**
 * When a node snapshots its own state and compacts its log (raft-node.ts calls `maybeTake` after
 * every Ready): by the snapshot rule (enough entries or writes since the last, carrying at least
 * as many bytes as its image), or on demand (SEQDB.SNAPSHOT). The export is pinned at the applied
 * index and written in the background, so the loop keeps sending heartbeats and appends while a
 * large image is saved; one at a time.
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import type { ConfState } from '../raft/types.ts';
import type { LmdbStore } from '../state-machine/index.ts';
import type { ApplyPipeline } from './apply-pipeline.ts';
import type { LmdbRaftStorage } from './lmdb-raft-storage.ts';
import type { Members } from './members.ts';
import { saveLocalSnapshot } from './snapshot-image.ts';

export interface LocalSnapshotDeps {
  readonly storage: LmdbRaftStorage;
  readonly store: LmdbStore;
  readonly members: Members;
  readonly applier: ApplyPipeline;
  /** The core's applied index, and its configuration there. */
  readonly core: () => { readonly applied: number; readonly conf: ConfState };
  readonly log: (line: string) => void;
  readonly onFailed: (err: Error) => void;
  /** A snapshot finished: the loop may have waited for it. */
  readonly onSettled: () => void;
  /**
   * No snapshot now (the disk is under its reserve: an image needs as much space again as the
   * state); a requested one is refused with NO_SPACE. Default: never.
   */
  readonly paused?: () => boolean;
  /**
   * Whether an image of about this many bytes fits on the disk above its reserve; without room
   * no snapshot is taken (a requested one is refused with NO_SPACE): a review saw one fail its
   * write with ENOSPC, which stops the node. Default: always.
   */
  readonly room?: (bytes: number) => boolean;
}

/** Most entries a snapshot keeps below itself, in units of `snapshotEntries` (snapshot-image.ts). */
const CATCH_UP_INTERVALS = 4;

export class LocalSnapshots {
  private waiters: ((err: Error | null) => void)[] = [];
  private running: Promise<void> | null = null;
  /** The last snapshot's image size (the snapshot rule). */
  private lastBytes = 0;
  /** The stored image is damaged: the next snapshot replaces it even at its own index. */
  private rewrite = false;

  constructor(
    private readonly d: LocalSnapshotDeps,
    /** `snapshotEntries` of raft-tuning.ts. */
    private readonly entriesMin: number,
  ) {}

  /** Somebody waits for a snapshot that has not started yet. */
  get wanted(): boolean {
    return this.waiters.length > 0 && this.running === null;
  }

  /** Resolves once a snapshot taken after this call is stored (and the log compacted). */
  request(): Promise<void> {
    return new Promise((resolve, reject) => this.waiters.push((err) => (err ? reject(err) : resolve())));
  }

  /**
   * The stored image was found damaged (CORRUPT reading it to send it, snapshot-images.ts):
   * resolves once a new image of the state replaced it. The state itself is what it was (only
   * the image's bytes rotted), so an image of it at the same index is a good copy.
   */
  repair(): Promise<void> {
    this.rewrite = true;
    return this.request();
  }

  /** A snapshot from the leader replaced the state: its size feeds the snapshot rule. */
  installed(bytes: number): void {
    this.lastBytes = bytes;
  }

  /**
   * Whether `maybeTake` has anything to do: asked after every Ready, so the loop awaits (and
   * allocates) nothing when no snapshot is due.
   */
  get due(): boolean {
    if (this.running !== null) return false;
    const { applier, storage } = this.d;
    return this.waiters.length > 0 || applier.snapshotDue(storage.snapshotMeta().index, this.entriesMin, this.lastBytes);
  }

  /** Starts a snapshot in the background if one is due or wanted and none is running. */
  async maybeTake(): Promise<void> {
    if (!this.due) return;
    const { applier, storage } = this.d;
    // The next image is at most the pages the state fills now (read only when one is due).
    if (this.d.paused?.() === true || (this.d.room !== undefined && !this.d.room(this.d.store.usedBytes()))) {
      for (const w of this.waiters.splice(0)) w(new SeqError(ErrorCode.NO_SPACE, 'no snapshot while the disk has no room for one above its reserve'));
      this.rewrite = false; // the repair was refused with them: a later one asks again
      return;
    }
    await applier.drain();
    // Not while the state is ahead of our own log (a leader's writes in flight) or of the
    // core's applied index (entries re-delivered after a restart): the compaction would drop
    // entries the core still needs. The writes or the re-delivery schedule the loop again.
    const core = this.d.core();
    const applied = applier.applied;
    if (applied > storage.lastIndex() || applied > core.applied || this.running !== null) return;
    const waiters = this.waiters.splice(0);
    this.running = this.take(applied, core.conf)
      .then(() => { for (const w of waiters) w(null); })
      .catch((err: Error) => {
        for (const w of waiters) w(err);
        this.d.onFailed(err);
      })
      .finally(() => {
        this.running = null;
        this.d.onSettled();
      });
  }

  /** Waits for a snapshot in flight; refuses the waiting requests with `err`. */
  async stop(err: Error): Promise<void> {
    await this.running;
    for (const w of this.waiters.splice(0)) w(err);
  }

  /** Call with no state-machine commit in flight (`applier.drain()`): the image is the state at `index`. */
  private async take(index: number, conf: ConfState): Promise<void> {
    const stored = this.d.storage.snapshotMeta().index;
    // A newer image installed meanwhile replaced the damaged one too.
    const rewrite = this.rewrite;
    this.rewrite = false;
    if (index < stored || (index === stored && !rewrite)) return;
    this.d.applier.resetBytes();
    // Entries kept below it for lagging followers: the last interval, at most four intervals'
    // minimum (40,000 by default).
    const saved = await saveLocalSnapshot(this.d, index, conf, CATCH_UP_INTERVALS * this.entriesMin);
    if (saved === null) return;
    this.lastBytes = saved.bytes;
    this.d.log(`snapshot at index ${index} term ${this.d.storage.snapshotMeta().term} (${saved.bytes} bytes); log compacted to ${saved.compactedTo}`);
  }
}
