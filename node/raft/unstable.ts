import type { Entry, Snapshot } from './types.ts';

/**
 * The part of the log not yet acknowledged as durable by the driver: an incoming snapshot
 * and/or entries starting at `offset`. Everything below `offset` is in Storage. Entries below
 * `inProgress` were handed to the driver in a Ready and are being written (a leader's writes may
 * still be in flight after advance(), see RawNode.appended).
 */
export class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  offset: number;
  inProgress: number;

  constructor(offset: number) {
    this.offset = offset;
    this.inProgress = offset;
  }

  /** Entries not handed to the driver yet. */
  hasPending(): boolean {
    return this.inProgress < this.offset + this.entries.length;
  }

  /** The entries not handed out yet, now marked as being written. */
  takePending(): Entry[] {
    const out = this.entries.slice(this.inProgress - this.offset);
    this.inProgress = this.offset + this.entries.length;
    return out;
  }

  lastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.meta.index;
  }

  term(i: number): number | undefined {
    if (i >= this.offset && i < this.offset + this.entries.length) return this.entries[i - this.offset]!.term;
    if (this.snapshot !== undefined && i === this.snapshot.meta.index) return this.snapshot.meta.term;
    return undefined;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const after = ents[0]!.index;
    if (after === this.offset + this.entries.length) {
      // In place: proposals arrive one by one, and ready() hands out a copy.
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      // Replaces everything unstable; Storage will drop its entries >= after when these are written.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents);
    }
    // Replaced entries that were being written must be handed out again, as their replacements.
    if (after < this.inProgress) this.inProgress = after;
  }

  /** The driver persisted entries through (i, t); drop them unless they were replaced meanwhile. */
  stableTo(i: number, t: number): void {
    if (i < this.offset || this.term(i) !== t) return;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = i + 1;
    if (this.inProgress < this.offset) this.inProgress = this.offset;
  }

  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.meta.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.meta.index + 1;
    this.inProgress = this.offset;
    this.entries = [];
    this.snapshot = s;
  }
}
