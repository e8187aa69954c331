/**
 * The smallest keys under one prefix, kept exact through a transaction's writes (cached-txn.ts
 * `first`). Every INC asks for the oldest token; at the token bound every INC also evicts it, so
 * a memo of the one smallest key was gone after each eviction and the next INC opened an LMDB
 * cursor again. A window of the smallest few is refilled only once it is used up; it starts at
 * one key (most transactions ask for the smallest and evict nothing) and doubles per refill.
 *
 * Exact because every write of the transaction goes through `onPut`/`onRemove`: a key inside the
 * window (or anywhere, when the window holds every key of the prefix) is inserted in order; a key
 * beyond the window's last one is left to the next fill, which reads the transaction itself.
 * It never holds more than `sizeMax` keys: past that, the largest are dropped and it is no longer
 * complete.
 */
import type { KvEntry } from './kv.ts';

export class FirstWindow {
  private entries: KvEntry[] = [];
  /** `entries` holds every key under the prefix: the last fill ended before the window was full. */
  private complete = false;
  private filled = false;
  /** Keys the next fill takes: 1, then doubling up to sizeMax. */
  private size = 1;

  constructor(readonly prefix: Buffer, private readonly sizeMax: number) {}

  /** Whether `fill` must run before `head` is the answer. */
  drained(): boolean {
    return !this.filled || (this.entries.length === 0 && !this.complete);
  }

  /** Takes up to `size` entries from an ordered scan of the prefix (copied: scans may alias). */
  fill(scan: Iterable<KvEntry>): void {
    const out: KvEntry[] = [];
    for (const e of scan) {
      out.push(copyEntry(e));
      if (out.length >= this.size) break;
    }
    this.entries = out;
    this.complete = out.length < this.size;
    this.filled = true;
    this.size = Math.min(this.size * 2, this.sizeMax);
  }

  /** The smallest entry under the prefix (after `fill` when `drained`). */
  head(): KvEntry | undefined {
    return this.entries[0];
  }

  onPut(key: Buffer, value: Buffer): void {
    if (!this.filled) return;
    const i = this.lowerBound(key);
    if (i < this.entries.length && this.entries[i]!.key.equals(key)) {
      this.entries[i] = copyEntry({ key, value });
    } else if (i < this.entries.length || this.complete) {
      this.entries.splice(i, 0, copyEntry({ key, value }));
      // Bounded: a window that held every key took each new one (every INC puts a token), and
      // carried across transactions (lmdb-store.ts) it grew with the table. The smallest keys
      // stay; the rest are left to the next fill.
      if (this.entries.length > this.sizeMax) {
        this.entries.length = this.sizeMax;
        this.complete = false;
      }
    }
  }

  onRemove(key: Buffer): void {
    if (!this.filled) return;
    const i = this.lowerBound(key);
    if (i < this.entries.length && this.entries[i]!.key.equals(key)) this.entries.splice(i, 1);
  }

  private lowerBound(key: Buffer): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.entries[mid]!.key, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function copyEntry(entry: KvEntry): KvEntry {
  return { key: Buffer.from(entry.key), value: Buffer.from(entry.value) };
}
