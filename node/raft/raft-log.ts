import { entrySize, sliceWithin } from './entry-size.ts';
import { Invariant, invariant } from './invariants.ts';
import { RaftError, RaftErrorCode, type Entry, type Snapshot, type Storage } from './types.ts';
import { Unstable } from './unstable.ts';

/** The node's view of its log: durable Storage below, the Unstable tail above, plus commit and applied. */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  committed: number;
  applied: number;

  constructor(storage: Storage) {
    this.storage = storage;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = storage.firstIndex() - 1;
    this.applied = storage.firstIndex() - 1;
  }

  firstIndex(): number {
    const s = this.unstable.snapshot;
    return s !== undefined ? s.meta.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.lastIndex() ?? this.storage.lastIndex();
  }

  /** Term of entry i, or undefined when i is compacted away or beyond the log. */
  term(i: number): number | undefined {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    const t = this.unstable.term(i);
    if (t !== undefined) return t;
    if (i >= this.unstable.offset) return undefined;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (e instanceof RaftError && (e.code === RaftErrorCode.COMPACTED || e.code === RaftErrorCode.UNAVAILABLE)) {
        return undefined;
      }
      throw e;
    }
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    if (t === undefined) throw new Error(`raft log: no term for last index ${this.lastIndex()}`);
    return t;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Election restriction (§5.4.1): last term first, then last index. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Index of the first entry whose term differs from ours (or that we lack); 0 if all match. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /** The largest index <= index whose term is <= term (fast backoff); stops at the compaction point. */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /**
   * The follower side of AppendEntries. Returns the last index the message proves we share
   * with the leader, or undefined when the consistency check fails. Truncates only on a
   * real term conflict, so stale or duplicate messages never drop entries.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      invariant(ci > this.committed, Invariant.COMMITTED_NEVER_TRUNCATED, () => `conflict at ${ci} <= commit ${this.committed}`);
      this.append(ents.slice(ci - prevIndex - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** `leader`: the caller is the leader, which may only extend its log. */
  append(ents: readonly Entry[], leader = false): void {
    if (ents.length === 0) return;
    const after = ents[0]!.index - 1;
    invariant(!leader || after === this.lastIndex(), Invariant.LEADER_APPEND_ONLY, () => `append after ${after}, last ${this.lastIndex()}`);
    invariant(after >= this.committed, Invariant.COMMITTED_NEVER_TRUNCATED, () => `append after ${after} < commit ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
  }

  /** Entries in [lo, hi) limited to maxBytes (at least one). Throws COMPACTED below firstIndex. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) throw new RaftError(RaftErrorCode.COMPACTED, `entry ${lo} compacted`);
    if (hi > this.lastIndex() + 1) throw new Error(`raft log: slice [${lo}, ${hi}) beyond last ${this.lastIndex()}`);
    const off = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < off) {
      out = this.storage.entries(lo, Math.min(hi, off), maxBytes);
      if (out.length < Math.min(hi, off) - lo || hi <= off) return out;
    }
    if (hi > off) {
      const used = out.reduce((n, e) => n + entrySize(e), 0);
      if (out.length > 0 && used >= maxBytes) return out;
      const rest = sliceWithin(this.unstable.entries, Math.max(lo, off) - off, hi - off, maxBytes - used);
      if (out.length === 0) return rest;
      // With entries from storage already taken, the unstable part must fit in what is left.
      if (rest.length === 1 && used + entrySize(rest[0]!) > maxBytes) return out;
      out = out.concat(rest);
    }
    return out;
  }

  commitTo(i: number): void {
    if (i <= this.committed) return;
    invariant(i <= this.lastIndex(), Invariant.COMMIT_LE_LAST, () => `commit ${i} > last ${this.lastIndex()}`);
    this.committed = i;
  }

  appliedTo(i: number): void {
    if (i <= this.applied) return;
    invariant(i <= this.committed, Invariant.APPLIED_LE_COMMIT, () => `applied ${i} > commit ${this.committed}`);
    this.applied = i;
  }

  /** Committed entries to hand to the state machine; none while a snapshot awaits install. */
  nextCommittedEnts(maxBytes: number): Entry[] {
    if (this.unstable.snapshot !== undefined) return [];
    const lo = this.applied + 1;
    // Storage compacted past applied (a driver bug) would otherwise skip entries silently.
    invariant(lo >= this.firstIndex() || lo > this.committed, Invariant.NO_SKIPPED_APPLY, () => `applied ${this.applied}, first index ${this.firstIndex()}`);
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  hasNextCommittedEnts(): boolean {
    return this.unstable.snapshot === undefined && this.committed > this.applied;
  }

  /** The last index the driver has acknowledged as durable and that is still part of our log. */
  stableLastIndex(): number {
    if (this.unstable.snapshot !== undefined) return 0; // nothing of the new log is durable yet
    return this.unstable.entries.length > 0 ? this.unstable.offset - 1 : this.lastIndex();
  }

  restore(s: Snapshot): void {
    invariant(s.meta.index > this.committed, Invariant.COMMIT_MONOTONIC, () => `restore ${s.meta.index} <= commit ${this.committed}`);
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }
}
