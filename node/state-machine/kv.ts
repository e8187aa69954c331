/**
 * The small key-value interface the state machine applies commands over. Keys and values are
 * bytes, ordered bytewise (LMDB's default order). lmdb-store.ts binds it to one LMDB
 * transaction; MemoryKv is an in-memory twin for simulators and unit tests.
 */
export interface KvEntry {
  readonly key: Buffer;
  readonly value: Buffer;
}

export interface KvReader {
  get(key: Buffer): Buffer | undefined;
  /** Whether `key` is present, without copying its value out (staged import parts are ~55 KiB). */
  has(key: Buffer): boolean;
  /** The entry with the smallest key that starts with `prefix`, if any. */
  first(prefix: Buffer): KvEntry | undefined;
  /**
   * Every entry whose key starts with `prefix` (and, given `after`, is greater than it), in key
   * order (slot moves read a slot's data with it, node/ownership/slot-data.ts: a page starts
   * after the last key of the one before without stepping over the keys before it). Do not
   * write while iterating; values may alias storage.
   */
  scan(prefix: Buffer, after?: Buffer): Iterable<KvEntry>;
}

/** One write transaction: reads see the transaction's own earlier writes. */
export interface KvTxn extends KvReader {
  put(key: Buffer, value: Buffer): void;
  remove(key: Buffer): void;
}

/** In-memory KvTxn over a sorted array; O(n) inserts are fine for tests and simulation. */
export class MemoryKv implements KvTxn {
  private readonly keys: Buffer[] = [];
  private readonly values = new Map<string, Buffer>();

  get(key: Buffer): Buffer | undefined {
    return this.values.get(key.toString('hex'));
  }

  has(key: Buffer): boolean {
    return this.values.has(key.toString('hex'));
  }

  first(prefix: Buffer): KvEntry | undefined {
    const i = this.lowerBound(prefix);
    const key = this.keys[i];
    if (key === undefined || !startsWith(key, prefix)) return undefined;
    return { key, value: this.values.get(key.toString('hex'))! };
  }

  *scan(prefix: Buffer, after?: Buffer): Generator<KvEntry> {
    let from = this.lowerBound(prefix);
    if (after !== undefined) {
      const past = this.lowerBound(after);
      from = Math.max(from, this.keys[past]?.equals(after) === true ? past + 1 : past);
    }
    for (let i = from; i < this.keys.length && startsWith(this.keys[i]!, prefix); i++) {
      const key = this.keys[i]!;
      yield { key, value: this.values.get(key.toString('hex'))! };
    }
  }

  put(key: Buffer, value: Buffer): void {
    const id = key.toString('hex');
    if (!this.values.has(id)) this.keys.splice(this.lowerBound(key), 0, Buffer.from(key));
    this.values.set(id, Buffer.from(value));
  }

  remove(key: Buffer): void {
    const id = key.toString('hex');
    if (!this.values.delete(id)) return;
    this.keys.splice(this.lowerBound(key), 1);
  }

  /** Every entry in key order. */
  *entries(): Generator<KvEntry> {
    for (const key of this.keys) yield { key, value: this.values.get(key.toString('hex'))! };
  }

  private lowerBound(key: Buffer): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.keys[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export function startsWith(key: Buffer, prefix: Buffer): boolean {
  return key.length >= prefix.length && key.subarray(0, prefix.length).equals(prefix);
}
