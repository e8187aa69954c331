/**
 * A read cache in front of one write transaction. Applying a batch of INCs reads the same keys
 * over and over (ownership bitmap and epoch, the log clock, token counters, the oldest token and
 * reservation): each LMDB get copies the value out of the map and each `first` opens a cursor,
 * which profiles showed as most of the state machine's cost. Writes go straight through to the
 * transaction and update the cache, so the view stays exact; it lives for one transaction only.
 *
 * Keys of the *deferred* spaces (the meta counters: every INC rewrites the clock, the token serial
 * and the token count) are written back once, by `flush()` at the end of the transaction, not on
 * every put. Nothing scans those spaces inside a transaction; if something does, `scan`/`first`
 * flush first, so the view is exact either way. Callers must call `flush()` before committing.
 */
import type { KvEntry, KvTxn } from './kv.ts';
import { startsWith } from './kv.ts';

/** Values up to this size are copied into the cache on put; larger ones are just forgotten. */
const CACHED_VALUE_BYTES_MAX = 4096;

interface FirstMemo {
  readonly prefix: Buffer;
  entry: KvEntry | undefined;
}

export class CachedTxn implements KvTxn {
  private readonly values = new Map<string, Buffer | undefined>();
  private readonly firsts = new Map<string, FirstMemo>();
  /** Deferred writes: key id -> key, value (undefined = remove). */
  private readonly dirty = new Map<string, [Buffer, Buffer | undefined]>();

  /** @param deferredSpaces first key bytes whose writes wait for `flush()` (default: none). */
  constructor(private readonly inner: KvTxn, private readonly deferredSpaces: readonly number[] = []) {}

  /** Writes the deferred keys to the transaction. */
  flush(): void {
    for (const [key, value] of this.dirty.values()) {
      if (value === undefined) this.inner.remove(key);
      else this.inner.put(key, value);
    }
    this.dirty.clear();
  }

  get(key: Buffer): Buffer | undefined {
    const id = key.toString('latin1');
    if (this.values.has(id)) return this.values.get(id);
    const value = this.inner.get(key);
    if (value === undefined || value.length <= CACHED_VALUE_BYTES_MAX) this.values.set(id, value);
    return value;
  }

  first(prefix: Buffer): KvEntry | undefined {
    this.flushIfDeferred(prefix);
    const id = prefix.toString('latin1');
    const memo = this.firsts.get(id);
    if (memo !== undefined) return memo.entry;
    const entry = this.inner.first(prefix);
    this.firsts.set(id, { prefix: Buffer.from(prefix), entry: entry && copyEntry(entry) });
    return entry;
  }

  scan(prefix: Buffer): Iterable<KvEntry> {
    this.flushIfDeferred(prefix);
    return this.inner.scan(prefix);
  }

  put(key: Buffer, value: Buffer): void {
    const id = key.toString('latin1');
    if (this.isDeferred(key)) {
      const copy = Buffer.from(value);
      this.dirty.set(id, [Buffer.from(key), copy]);
      this.values.set(id, copy);
    } else {
      this.inner.put(key, value);
      if (value.length <= CACHED_VALUE_BYTES_MAX) this.values.set(id, Buffer.from(value));
      else this.values.delete(id);
    }
    for (const memo of this.firsts.values()) {
      if (!startsWith(key, memo.prefix)) continue;
      const order = memo.entry === undefined ? -1 : Buffer.compare(key, memo.entry.key);
      if (order <= 0) memo.entry = { key: Buffer.from(key), value: Buffer.from(value) };
    }
  }

  remove(key: Buffer): void {
    const id = key.toString('latin1');
    if (this.isDeferred(key)) this.dirty.set(id, [Buffer.from(key), undefined]);
    else this.inner.remove(key);
    this.values.set(id, undefined);
    for (const [prefixId, memo] of this.firsts) {
      if (memo.entry !== undefined && memo.entry.key.equals(key)) this.firsts.delete(prefixId);
    }
  }

  private isDeferred(key: Buffer): boolean {
    return key.length > 0 && this.deferredSpaces.includes(key[0]!);
  }

  private flushIfDeferred(prefix: Buffer): void {
    if (this.dirty.size > 0 && (prefix.length === 0 || this.deferredSpaces.includes(prefix[0]!))) this.flush();
  }
}

function copyEntry(entry: KvEntry): KvEntry {
  return { key: Buffer.from(entry.key), value: Buffer.from(entry.value) };
}
