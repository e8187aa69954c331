/**
 * The Raft log, hard state and snapshot: the `Storage` the core reads synchronously, plus the
 * durable write path the driver awaits before it sends anything that depends on it.
 *
 * Layout under `<data>/raft`:
 * - `wal/`: the log's entries and the hard state, in append-only segment files (wal.ts): one
 *   write + one fdatasync per persist. Versions before it kept them in LMDB (db `log`, meta
 *   `hs`); such a log is moved into the files once, at open.
 * - one LMDB environment, db `meta` (msgpack): `trunc` {index, term} the compaction point (the
 *   dummy that keeps term(firstIndex-1) answerable), `snap` the snapshot meta, `imageRef`/
 *   `snapHead` naming its image (chunks in db `image`, snapshot-images.ts), `identity`, and
 *   small driver records (`members`, `removed`) through getMeta/putMeta.
 *
 * Durability: LMDB is opened with overlappingSync off and `commit` awaits `flushed`; the log's
 * files are fdatasynced before a write resolves. A snapshot is written to LMDB first, then the
 * log restarts after it (a RESET record); a crash in between is reconciled at open. In-memory
 * indexes move only after a write is on disk: until then the core still holds the new entries
 * in its unstable log and never reads them from here.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { SeqError, ErrorCode } from '../../shared/errors.ts';
import { chunkedSnapshot, imageChunks, isChunked, SnapshotImages, type ChunkReading } from './snapshot-images.ts';
import { Wal, type WalWrite } from './wal.ts';
import { migrateLmdbLog, reconcileWithSnapshot } from './raft-log-open.ts';
import { loadNodeIdentity, type IdentityOptions, type NodeIdentity } from './node-identity.ts';
import { commitErrorHandled, ignoreDiscardedCommitRejections } from '../state-machine/lmdb-commit-errors.ts';
import { probeNewLmdbDir } from '../disk/write-probe.ts';
import {
  RaftError,
  RaftErrorCode,
  type ConfState,
  type Entry,
  type EntryType,
  type HardState,
  type Snapshot,
  type SnapshotMeta,
  type Storage,
} from '../raft/types.ts';

/** The node's data dir (the log lives in `<dir>/raft`), shard and cluster; see node-identity.ts. */
export type OpenStorageOptions = IdentityOptions;

export interface PersistBatch {
  readonly snapshot?: Snapshot;
  readonly entries: readonly Entry[];
  readonly hardState?: HardState;
  /**
   * Commit (with its fsync) on the calling thread instead of lmdb-js's write thread; it blocks
   * the event loop for the write. Default false.
   */
  readonly inline?: boolean;
}

interface IndexTerm {
  readonly index: number;
  readonly term: number;
}

const EMPTY_CONF: ConfState = { voters: [], learners: [] };
const EMPTY_HS: HardState = { term: 0, vote: null, commit: 0 };

export type { NodeIdentity };

export class LmdbRaftStorage implements Storage {
  readonly identity: NodeIdentity;
  private readonly env: RootDatabase;
  private readonly wal: Wal;
  private readonly meta: Database<unknown, string>;
  private readonly images: SnapshotImages;
  private hs: HardState;
  private trunc: IndexTerm;
  private snapMeta: SnapshotMeta;
  /** The log's last index including writes queued but not on disk yet (appends are checked against it). */
  private lastIssued: number;
  /** The compaction point most recently written inside a transaction (committed or not yet). */
  private truncWritten: IndexTerm;
  /** The in-memory hard state has a commit index not yet written (see persist). */
  private hsUnsaved = false;
  private closed = false;

  /** Opens (or creates) the node's Raft storage; refuses a data dir of another shard or cluster. */
  static open(opts: OpenStorageOptions): LmdbRaftStorage {
    ignoreDiscardedCommitRejections();
    const path = join(opts.dir, 'raft');
    mkdirSync(path, { recursive: true });
    probeNewLmdbDir(path);
    const env = open({ path, maxDbs: 4, overlappingSync: false, noSync: false });
    let wal: Wal | undefined;
    try {
      const meta = env.openDB<unknown, string>('meta', {});
      const walDir = join(path, 'wal');
      migrateLmdbLog(env, meta, walDir, (meta.get('trunc') as IndexTerm | undefined) ?? { index: 0, term: 0 });
      wal = Wal.open({ dir: walDir });
      return new LmdbRaftStorage(env, wal, opts);
    } catch (err) {
      void wal?.close();
      void env.close();
      throw err;
    }
  }

  private constructor(env: RootDatabase, wal: Wal, opts: OpenStorageOptions) {
    this.env = env;
    this.wal = wal;
    this.meta = env.openDB<unknown, string>('meta', {});
    this.snapMeta = (this.meta.get('snap') as SnapshotMeta | undefined) ?? { index: 0, term: 0, conf: EMPTY_CONF };
    this.images = new SnapshotImages(env.openDB<Buffer, string>('image', { encoding: 'binary' }), this.meta, this.snapMeta.index);
    this.identity = loadNodeIdentity(this.meta, opts);
    this.trunc = (this.meta.get('trunc') as IndexTerm | undefined) ?? { index: 0, term: 0 };
    this.truncWritten = this.trunc;
    reconcileWithSnapshot(wal, this.trunc);
    const hs = this.wal.hardState() ?? EMPTY_HS;
    // A commit index learned ahead of the entries on disk is not kept (Raft never needs it durable).
    const end = Math.max(this.wal.lastIndex(), this.trunc.index);
    this.hs = hs.commit > end ? { ...hs, commit: end } : hs;
    this.lastIssued = this.wal.lastIndex();
  }

  /** A torn write the log's recovery cut off at open (wal.ts), for the node to report. */
  get tornTail(): Wal['tornTail'] {
    return this.wal.tornTail;
  }

  // ---- Storage (read by the core, synchronous) ----

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hs, confState: this.snapMeta.conf };
  }

  snapshotIndex(): number {
    return this.snapMeta.index;
  }

  firstIndex(): number {
    return this.trunc.index + 1;
  }

  lastIndex(): number {
    return Math.max(this.wal.lastIndex(), this.trunc.index);
  }

  term(index: number): number {
    if (index === this.trunc.index) return this.trunc.term;
    if (index < this.trunc.index) throw new RaftError(RaftErrorCode.COMPACTED, `index ${index} compacted`);
    const t = this.wal.term(index);
    if (t === undefined) throw new RaftError(RaftErrorCode.UNAVAILABLE, `index ${index} > last ${this.lastIndex()}`);
    return t;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.trunc.index) throw new RaftError(RaftErrorCode.COMPACTED, `index ${lo} compacted`);
    const last = this.lastIndex();
    if (hi > last + 1) throw new RaftError(RaftErrorCode.UNAVAILABLE, `index ${hi - 1} > last ${last}`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      bytes += this.wal.dataLength(i);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(this.wal.entry(i));
    }
    if (out.length === 0 && lo < hi) throw new RaftError(RaftErrorCode.UNAVAILABLE, `entries ${lo}..${hi} missing`);
    return out;
  }

  /**
   * The stored log entries of `type` in [lo, hi), others skipped without copying their data:
   * a restart replays only the conf changes (members.ts), and the log can hold a million INCs.
   */
  *entriesOfType(type: EntryType, lo: number, hi: number): Generator<Entry> {
    const end = Math.min(hi, this.wal.lastIndex() + 1);
    for (let i = Math.max(lo, this.trunc.index + 1); i < end; i++) {
      if (this.wal.type(i) === type) yield this.wal.entry(i);
    }
  }

  /**
   * The first bytes of the stored snapshot image (up to SNAPSHOT_HEAD_BYTES), kept beside it:
   * enough for the members envelope, without reading a whole image of ~100 MB at restart.
   */
  snapshotHead(): Uint8Array | undefined {
    return this.images.head();
  }

  snapshot(): Snapshot {
    // Meta and image ref from the database in one read: a background snapshot may have committed
    // a newer pair whose in-memory `snapMeta` update has not run yet. A mismatched pair would make
    // a follower re-apply entries its image already holds. The image is read when it is sent,
    // from that ref only (a replaced one fails the send, and the core offers the newer one).
    const meta = (this.meta.get('snap') as SnapshotMeta | undefined) ?? this.snapMeta;
    const ref = this.images.ref();
    return ref === undefined ? { meta, data: this.images.read() } : chunkedSnapshot(meta, ref, this.images);
  }

  /** The stored snapshot's image in chunks, without holding it whole (SnapshotImages.chunks). */
  snapshotChunks(o: ChunkReading = {}): Generator<Uint8Array> {
    return this.images.chunks(o);
  }

  // ---- Durable writes (driver) ----

  hardState(): HardState {
    return this.hs;
  }

  snapshotMeta(): SnapshotMeta {
    return this.snapMeta;
  }

  /**
   * Entries up to `index` are known committed (the state machine applied them). Raises the
   * in-memory commit so the core starts consistent (applied <= commit); the next hard state
   * write persists it. Only indexes present in the log are accepted.
   */
  raiseCommitTo(index: number): void {
    const to = Math.min(index, this.lastIndex());
    if (to > this.hs.commit) this.hs = { ...this.hs, commit: to };
  }

  /** True once the node has any Raft state: it was bootstrapped, joined, or received a snapshot. */
  isInitialized(): boolean {
    return this.hs.term > 0 || this.lastIndex() > 0 || this.snapMeta.conf.voters.length > 0;
  }

  /**
   * Starts a brand-new group: a snapshot at index 1, term 1 holding the initial membership and
   * state image. Membership lives in the snapshot, never only in a conf at index 0, so nodes that
   * join later learn it by InstallSnapshot like any lagging follower.
   */
  async bootstrap(conf: ConfState, data: Uint8Array): Promise<void> {
    if (this.isInitialized()) throw new SeqError(ErrorCode.INTERNAL, 'bootstrap of an initialized node');
    const meta: SnapshotMeta = { index: 1, term: 1, conf };
    const trunc = { index: 1, term: 1 };
    const hs: HardState = { term: 1, vote: null, commit: 1 };
    await this.commit(() => {
      this.putSnapshot({ meta, data });
      this.meta.putSync('trunc', trunc);
      this.truncWritten = trunc;
    });
    await this.wal.write({ reset: trunc, hardState: hs });
    this.snapMeta = meta;
    this.trunc = trunc;
    this.lastIssued = 1;
    this.hs = hs;
  }

  /**
   * Persists one Ready: snapshot (replaces the whole log), then entries (replacing stored entries
   * at and after entries[0].index), then the hard state, in ONE fsynced LMDB commit.
   */
  async persist(batch: PersistBatch): Promise<void> {
    const { snapshot, entries, hardState } = batch;
    if (!snapshot && entries.length === 0 && !hardState) return;
    if (!snapshot && entries.length === 0 && hardState && hardState.term === this.hs.term && hardState.vote === this.hs.vote) {
      // Only the commit index moved. Raft never needs it durable (a restarted node learns it
      // again, and starts from its applied index), so it rides the next write instead of
      // holding the Ready loop for an fsync: with one client that fsync delayed every next INC.
      this.hs = hardState;
      this.hsUnsaved = true;
      return;
    }
    if (snapshot) await this.storeSnapshot(snapshot, batch.inline === true);
    const trunc = this.truncWritten;
    let last = snapshot ? snapshot.meta.index : this.lastIssued;
    if (entries.length > 0) {
      const first = entries[0]!.index;
      if (first <= trunc.index) throw new SeqError(ErrorCode.INTERNAL, `append at ${first} below compaction ${trunc.index}`);
      if (first > last + 1) throw new SeqError(ErrorCode.INTERNAL, `append at ${first} leaves a gap after ${last}`);
      last = entries[entries.length - 1]!.index;
    }
    // A leader commits through its followers before its own write is done: on disk the commit
    // index never passes the entries on disk (a restart could not start from it).
    const given = hardState ?? (this.hsUnsaved ? this.hs : undefined);
    // A Ready's hard state can be older than the commit kept in memory since (never write it back).
    const hs = given && this.notNewer(given) ? this.hs : given;
    const w: WalWrite = {
      ...(snapshot ? { reset: { index: snapshot.meta.index, term: snapshot.meta.term } } : {}),
      entries,
      ...(hs ? { hardState: hs.commit > last ? { ...hs, commit: last } : hs } : {}),
    };
    this.lastIssued = last;
    // A clamped commit is written again with the next entries, until it is written whole.
    this.hsUnsaved = hs !== undefined && hs.commit > last;
    try {
      if (batch.inline) this.wal.writeSync(w);
      else await this.wal.write(w);
    } catch (err) {
      throw writeFailure(err);
    }
    if (snapshot) this.raiseTrunc({ index: snapshot.meta.index, term: snapshot.meta.term });
    if (snapshot && snapshot.meta.index >= this.snapMeta.index) this.snapMeta = snapshot.meta;
    // A commit-only hard state kept in memory meanwhile may be newer than this write's.
    if (hardState && !this.notNewer(hardState)) this.hs = hardState;
  }

  /** Same term and vote as the in-memory hard state, and a commit index no higher. */
  private notNewer(hs: HardState): boolean {
    return hs.term === this.hs.term && hs.vote === this.hs.vote && hs.commit <= this.hs.commit;
  }

  /**
   * A received snapshot goes to LMDB (image, meta, compaction point) before the log restarts
   * after it. The image is written a few chunks per transaction and made current with the meta in
   * the last one: one transaction of a whole image would hold all of its dirty pages in memory.
   */
  private async storeSnapshot(snapshot: Snapshot, inline: boolean): Promise<void> {
    const trunc = { index: snapshot.meta.index, term: snapshot.meta.term };
    const finish = (): void => {
      this.truncWritten = trunc;
      this.meta.putSync('snap', snapshot.meta);
      this.meta.putSync('trunc', trunc);
    };
    if (inline) {
      this.commitNow(() => {
        this.putSnapshot(snapshot);
        finish();
      });
      return;
    }
    // putStreamed copies what it keeps: a spooled image is read into one reused buffer.
    const chunks = isChunked(snapshot) ? snapshot.chunks({ reuse: true }) : imageChunks(snapshot.data);
    const current = await this.images.putStreamed(chunks, snapshot.meta.index, (fn) => this.commit(fn), finish);
    if (!current) throw new SeqError(ErrorCode.INTERNAL, `received snapshot at ${snapshot.meta.index} is older than the stored one`);
  }

  /** Records a snapshot the driver produced from its state machine at `index` (already applied). */
  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    await this.saveSnapshotStreamed(snapshot.meta, [snapshot.data]);
  }

  /**
   * Records a snapshot the driver is exporting (`chunks`, consumed a few at a time between
   * commits, see snapshot-images.ts). Resolves false if a newer snapshot (an InstallSnapshot)
   * was stored meanwhile: then this one is dropped.
   */
  async saveSnapshotStreamed(meta: SnapshotMeta, chunks: Iterable<Uint8Array>): Promise<boolean> {
    if (meta.index < this.snapMeta.index) return false;
    if (meta.index > this.lastIndex()) throw new SeqError(ErrorCode.INTERNAL, 'snapshot beyond the log');
    const saved = await this.images.putStreamed(chunks, meta.index, (fn) => this.commit(fn), () => this.meta.putSync('snap', meta));
    if (saved && meta.index >= this.snapMeta.index) this.snapMeta = meta;
    return saved;
  }

  /** Drops entries <= index; index must be covered by the stored snapshot. term(index) keeps answering. */
  async compact(index: number): Promise<void> {
    if (index <= this.trunc.index) return;
    if (index > this.snapMeta.index) throw new SeqError(ErrorCode.INTERNAL, `compact ${index} beyond snapshot ${this.snapMeta.index}`);
    const trunc = { index, term: this.term(index) };
    await this.commit(() => {
      // An InstallSnapshot may have replaced the log meanwhile (see persist).
      if (index <= this.truncWritten.index) return;
      this.meta.putSync('trunc', trunc);
      this.truncWritten = trunc;
    });
    this.raiseTrunc(trunc);
    this.wal.compact(index);
  }

  /** Compaction points only move forward, whichever commit settles first. */
  private raiseTrunc(trunc: IndexTerm): void {
    if (trunc.index > this.trunc.index) this.trunc = trunc;
  }

  getMeta<T>(key: string): T | undefined {
    return this.meta.get(key) as T | undefined;
  }

  /** Durably stores a small driver record (members, removed ids). */
  async putMeta(key: string, value: unknown): Promise<void> {
    await this.commit(() => this.meta.putSync(key, value));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.wal.close();
    await this.env.close();
  }

  private putSnapshot(snapshot: Snapshot): void {
    this.meta.putSync('snap', snapshot.meta);
    this.images.putWhole(snapshot.data, snapshot.meta.index);
  }


  private commitNow(fn: () => void): void {
    this.assertWritable();
    try {
      this.env.transactionSync(fn);
    } catch (err) {
      throw writeFailure(err);
    }
  }

  private async commit(fn: () => void): Promise<void> {
    this.assertWritable();
    try {
      await this.env.transaction(fn);
      await this.env.flushed;
    } catch (err) {
      throw writeFailure(commitErrorHandled(err));
    }
  }

  private assertWritable(): void {
    if (this.closed) throw new SeqError(ErrorCode.STORAGE, 'raft storage closed');
  }
}

function writeFailure(err: unknown): SeqError {
  return err instanceof SeqError ? err : new SeqError(ErrorCode.STORAGE, `raft storage write failed: ${String(err)}`);
}
