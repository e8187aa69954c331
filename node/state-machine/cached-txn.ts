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
 *
 * Keys of the *uncached* spaces (token records: each is read once, to find it is new, and written
 * once; sequence values, read once per command) go straight to the transaction, which sees its
 * own writes: caching them only cost a string id and two copies per INC.
 */
import type { KvEntry, KvTxn } from './kv.ts';
import { FirstWindow } from './first-window.ts';

/** Values up to this size are copied into the cache on put; larger ones are just forgotten. */
const CACHED_VALUE_BYTES_MAX = 4096;

/** Smallest keys kept per prefix asked for with `first` (first-window.ts). */
const FIRST_WINDOW_ENTRIES = 64;

export class CachedTxn implements KvTxn {
  private readonly values = new Map<string, Buffer | undefined>();
  private readonly firsts: Map<string, FirstWindow>;
  /** Deferred writes: key id -> key, value (undefined = remove). */
  private readonly dirty = new Map<string, [Buffer, Buffer | undefined]>();

  /**
   * @param deferredSpaces first key bytes whose writes wait for `flush()` (default: none).
   * @param uncachedSpaces first key bytes read and written straight through (default: none).
   * @param firstWindowEntries smallest keys `first` keeps per prefix (default 64).
   * @param carried first-windows of the previous transaction (`carry`), exact for the state this
   *   one starts from: the caller vouches that nothing else wrote it since (lmdb-store.ts). They
   *   are updated in place: once this transaction aborts they are wrong, and must be dropped.
   */
  constructor(
    private readonly inner: KvTxn,
    private readonly deferredSpaces: readonly number[] = [],
    private readonly uncachedSpaces: readonly number[] = [],
    private readonly firstWindowEntries = FIRST_WINDOW_ENTRIES,
    carried?: ReadonlyMap<string, FirstWindow>,
  ) {
    this.firsts = new Map(carried);
  }

  /**
   * The first-windows of `prefixes` this transaction holds, to carry into the next one once it
   * has committed (a fixed set: per-series prefixes would grow the carried map without bound).
   */
  carry(prefixes: readonly Buffer[]): Map<string, FirstWindow> {
    const out = new Map<string, FirstWindow>();
    for (const prefix of prefixes) {
      const id = prefix.toString('latin1');
      const window = this.firsts.get(id);
      if (window !== undefined) out.set(id, window);
    }
    return out;
  }

  /** Writes the deferred keys to the transaction. */
  flush(): void {
    for (const [key, value] of this.dirty.values()) {
      if (value === undefined) this.inner.remove(key);
      else this.inner.put(key, value);
    }
    this.dirty.clear();
  }

  get(key: Buffer): Buffer | undefined {
    if (this.isUncached(key)) return this.inner.get(key);
    const id = this.isDeferred(key) ? deferredId(key) : key.toString('latin1');
    if (this.values.has(id)) return this.values.get(id);
    const value = this.inner.get(key);
    if (value === undefined || value.length <= CACHED_VALUE_BYTES_MAX) this.values.set(id, value);
    return value;
  }

  has(key: Buffer): boolean {
    if (this.isUncached(key)) return this.inner.has(key);
    const id = this.isDeferred(key) ? deferredId(key) : key.toString('latin1');
    if (this.values.has(id)) return this.values.get(id) !== undefined;
    return this.inner.has(key);
  }

  first(prefix: Buffer): KvEntry | undefined {
    this.flushIfDeferred(prefix);
    const id = prefix.toString('latin1');
    let window = this.firsts.get(id);
    if (window === undefined) {
      window = new FirstWindow(Buffer.from(prefix), this.firstWindowEntries);
      this.firsts.set(id, window);
    }
    if (window.drained()) window.fill(this.inner.scan(prefix));
    return window.head();
  }

  scan(prefix: Buffer, after?: Buffer): Iterable<KvEntry> {
    this.flushIfDeferred(prefix);
    return this.inner.scan(prefix, after);
  }

  put(key: Buffer, value: Buffer): void {
    if (this.isUncached(key)) {
      this.inner.put(key, value);
    } else if (this.isDeferred(key)) {
      const id = deferredId(key);
      const copy = Buffer.from(value);
      const pending = this.dirty.get(id);
      if (pending === undefined) this.dirty.set(id, [Buffer.from(key), copy]);
      else pending[1] = copy;
      this.values.set(id, copy);
    } else {
      const id = key.toString('latin1');
      this.inner.put(key, value);
      if (value.length <= CACHED_VALUE_BYTES_MAX) this.values.set(id, Buffer.from(value));
      else this.values.delete(id);
    }
    for (const window of this.firsts.values()) if (hasPrefix(key, window.prefix)) window.onPut(key, value);
  }

  remove(key: Buffer): void {
    if (this.isUncached(key)) {
      this.inner.remove(key);
    } else {
      const id = key.toString('latin1');
      if (this.isDeferred(key)) this.dirty.set(id, [Buffer.from(key), undefined]);
      else this.inner.remove(key);
      this.values.set(id, undefined);
    }
    for (const window of this.firsts.values()) if (hasPrefix(key, window.prefix)) window.onRemove(key);
  }

  private isDeferred(key: Buffer): boolean {
    return key.length > 0 && this.deferredSpaces.includes(key[0]!);
  }

  private isUncached(key: Buffer): boolean {
    return key.length > 0 && this.uncachedSpaces.includes(key[0]!);
  }

  private flushIfDeferred(prefix: Buffer): void {
    if (this.dirty.size > 0 && (prefix.length === 0 || this.deferredSpaces.includes(prefix[0]!))) this.flush();
  }
}

/**
 * Ids of deferred keys by key object: those are the meta keys, a few constant Buffers read and
 * written several times per INC, so each id is computed once per process instead of per call.
 */
const deferredIds = new WeakMap<Buffer, string>();

function deferredId(key: Buffer): string {
  let id = deferredIds.get(key);
  if (id === undefined) {
    id = key.toString('latin1');
    deferredIds.set(key, id);
  }
  return id;
}

/** startsWith without a subarray per call: put runs this against every first-window. */
function hasPrefix(key: Buffer, prefix: Buffer): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}
