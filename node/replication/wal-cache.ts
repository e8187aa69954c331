/**
 * The bytes of the log's most recent entries (wal.ts), bounded: a follower applies an entry right
 * after writing it, and a leader sends recent entries to a follower that lags a little; older
 * entries are read back from their segment. The oldest go first.
 */
export class EntryCache {
  private readonly byIndex = new Map<number, Uint8Array>();
  private bytes = 0;
  /** No cached index is below this (eviction walks up from it). */
  private low = Number.POSITIVE_INFINITY;

  constructor(private readonly bytesMax: number) {}

  get(index: number): Uint8Array | undefined {
    return this.byIndex.get(index);
  }

  put(index: number, given: Uint8Array): void {
    // A view into a larger buffer (a peer frame, a pool slab) would pin all of it: keep a copy.
    const data = given.byteLength === given.buffer.byteLength ? given : Uint8Array.prototype.slice.call(given);
    this.byIndex.set(index, data);
    this.bytes += data.length;
    if (index < this.low) this.low = index;
    while (this.bytes > this.bytesMax && this.low <= index) this.drop(this.low++);
  }

  /** Forgets indexes in [from, to]. */
  dropRange(from: number, to: number): void {
    for (let i = from; i <= to; i++) this.drop(i);
  }

  /** Forgets every index below `index` (Infinity: all). */
  dropBelow(index: number): void {
    for (const i of this.byIndex.keys()) if (i < index) this.drop(i);
    if (this.byIndex.size === 0) this.low = Number.POSITIVE_INFINITY;
    else if (Number.isFinite(index)) this.low = Math.max(this.low, index);
  }

  private drop(index: number): void {
    const d = this.byIndex.get(index);
    if (d === undefined) return;
    this.bytes -= d.length;
    this.byIndex.delete(index);
  }
}
