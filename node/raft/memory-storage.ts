import {
  RaftError,
  RaftErrorCode,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  type Storage,
} from './types.ts';
import { sliceWithin } from './entry-size.ts';

const EMPTY_CONF: ConfState = { voters: [], learners: [] };

/**
 * In-memory Storage for tests and the simulator. ents[0] is a dummy holding the compaction
 * point (at or below the snapshot's index), so term(firstIndex - 1) keeps answering after
 * compaction.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: null, commit: 0 };
  private snap: Snapshot;
  private ents: Entry[];

  /** Bootstrap: `confState` is the initial membership at index 0, term 0. */
  constructor(confState: ConfState = EMPTY_CONF) {
    this.snap = { meta: { index: 0, term: 0, conf: copyConf(confState) }, data: new Uint8Array(0) };
    this.ents = [dummy(0, 0)];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.meta.conf };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new RaftError(RaftErrorCode.COMPACTED, `entry ${lo} compacted (first ${offset + 1})`);
    if (hi > this.lastIndex() + 1) throw new RaftError(RaftErrorCode.UNAVAILABLE, `entry ${hi - 1} not stored`);
    if (lo >= hi) return [];
    return sliceWithin(this.ents, lo - offset, hi - offset, maxBytes);
  }

  term(index: number): number {
    const offset = this.ents[0]!.index;
    if (index < offset) throw new RaftError(RaftErrorCode.COMPACTED, `term ${index} compacted`);
    if (index > this.lastIndex()) throw new RaftError(RaftErrorCode.UNAVAILABLE, `term ${index} not stored`);
    return this.ents[index - offset]!.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshotIndex(): number {
    return this.snap.meta.index;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  /** Truncates any stored entries at or after entries[0].index, then appends. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    let ents = entries;
    // Entries already covered by the snapshot are committed and identical; skip them.
    if (ents[0]!.index < first) ents = ents.slice(first - ents[0]!.index);
    if (ents.length === 0) return;
    const at = ents[0]!.index;
    if (at > this.lastIndex() + 1) {
      throw new RaftError(RaftErrorCode.UNAVAILABLE, `append at ${at} leaves a gap after ${this.lastIndex()}`);
    }
    const offset = this.ents[0]!.index;
    this.ents.length = at - offset; // drops any stored entries >= at
    for (const e of ents) this.ents.push(e);
  }

  /** Replaces the whole log with the snapshot point. Older snapshots are ignored. */
  applySnapshot(s: Snapshot): void {
    if (s.meta.index <= this.snap.meta.index) return;
    this.snap = s;
    this.ents = [dummy(s.meta.index, s.meta.term)];
  }

  /** Records a snapshot of the state machine at `index` (<= last index); does not compact. */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.meta.index) return this.snap;
    if (index > this.lastIndex()) {
      throw new RaftError(RaftErrorCode.UNAVAILABLE, `snapshot ${index} beyond last ${this.lastIndex()}`);
    }
    this.snap = { meta: { index, term: this.term(index), conf: copyConf(conf) }, data };
    return this.snap;
  }

  /**
   * Drops entries <= index; term(index) stays answerable. Only up to the snapshot index: a
   * follower behind the log is sent snapshot(), which must reach at least firstIndex - 1.
   */
  compact(index: number): void {
    const offset = this.ents[0]!.index;
    if (index <= offset) return;
    if (index > this.snap.meta.index) {
      throw new RaftError(RaftErrorCode.UNAVAILABLE, `compact ${index} beyond snapshot ${this.snap.meta.index}`);
    }
    if (index > this.lastIndex()) {
      throw new RaftError(RaftErrorCode.UNAVAILABLE, `compact ${index} beyond last ${this.lastIndex()}`);
    }
    const t = this.term(index);
    this.ents = [dummy(index, t)].concat(this.ents.slice(index - offset + 1));
  }
}

function dummy(index: number, term: number): Entry {
  return { index, term, type: 0, data: new Uint8Array(0) };
}

function copyConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners] };
}
