/**
 * The LMDB home of the state machine: one named database ("state") inside an LMDB environment,
 * binary keys and values. Write transactions resolve only once durably flushed (see
 * node/DESIGN.md: overlappingSync is off, so LMDB's commit includes the fsync).
 *
 * Other parts (the Raft log in issue 4) may open their own named databases in the same
 * environment via `root` and write them in the same transaction as `write`.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { commitErrorHandled, ignoreDiscardedCommitRejections } from './lmdb-commit-errors.ts';
import type { KvEntry, KvReader, KvTxn } from './kv.ts';
import { startsWith } from './kv.ts';
import { CachedTxn } from './cached-txn.ts';
import { SPACE_META, SPACE_SEQUENCE, SPACE_TOKEN, TOKEN_HELD_PREFIX, TOKEN_ORDER_PREFIX } from './keys.ts';
import { EXPIRY_PREFIX, SERIES_HEADERS_PREFIX } from './series-keys.ts';
import type { FirstWindow } from './first-window.ts';
import { getAppliedIndex, stateSummary, type StateSummary } from './meta.ts';
import { KEY_BYTES_MAX, encodeSnapshot, snapshotEntryViews } from './snapshot.ts';
import { probeNewLmdbDir } from '../disk/write-probe.ts';

export interface LmdbStoreOptions {
  /** Directory of the LMDB environment; created if missing. */
  readonly path: string;
  /** Named databases the caller will open in the same environment. Default 8. */
  readonly extraDbs?: number;
  /**
   * Fsync every commit. Default true: a standalone node's state is its only copy. A replica
   * passes false (node/replication/state-reboot-guard.ts): its state is rebuilt from the Raft log
   * and snapshot, so commits need not wait for the disk; writes then resolve once in the page
   * cache, which survives a process crash but not an OS crash (the guard handles that).
   */
  readonly sync?: boolean;
}

const STATE_DB_NAME = 'state';
/**
 * Bytes of keys and values a snapshot import writes per transaction: LMDB holds that
 * transaction's dirty pages (about twice as many bytes, at worst) in the heap until it commits.
 */
const IMPORT_TXN_BYTES_MAX = 4 << 20;
/** An image's meta keys are a dozen counters; held back until the import's last transaction. */
const IMPORT_META_BYTES_MAX = 64 << 10;
/** lmdb-js's put options for MDB_APPEND. */
const APPEND = { append: true } as const;

/**
 * Prefixes every apply transaction asks `first` of (the oldest token, the oldest held token, the
 * next reservation to expire): their windows are carried from one `writeNow` to the next, so a
 * transaction of one INC no longer opens two or three LMDB cursors (~a quarter of its cost in
 * bench/apply.ts --batch 1).
 */
const CARRIED_PREFIXES: readonly Buffer[] = [TOKEN_ORDER_PREFIX, TOKEN_HELD_PREFIX, EXPIRY_PREFIX, SERIES_HEADERS_PREFIX];

export class LmdbStore {
  private closed = false;
  /**
   * First-windows of the last committed `writeNow`, exact for the state it left: every write of
   * the state db since went through them. Dropped by anything else that writes it (an async
   * `write`, a snapshot import) and by a transaction that throws (its writes are rolled back,
   * the windows saw them).
   */
  private carried: ReadonlyMap<string, FirstWindow> = new Map();
  /** Async writes under way: their callbacks write the state without the carried windows. */
  private asyncWrites = 0;
  /**
   * Inside a write transaction's callback: a `writeNow` there would be an LMDB child transaction
   * whose windows the outer one never saw (and kept if the outer one aborts), so it is refused.
   */
  private writing = false;

  private constructor(
    /** The environment's root database: open further named databases from it. */
    readonly root: RootDatabase,
    private readonly db: Database<Buffer, Buffer>,
    /** Whether commits fsync (LmdbStoreOptions.sync). */
    readonly syncs: boolean,
  ) {}

  static open(options: LmdbStoreOptions): LmdbStore {
    ignoreDiscardedCommitRejections();
    probeNewLmdbDir(options.path);
    const root = open({
      path: options.path,
      maxDbs: 1 + (options.extraDbs ?? 8),
      // Off on purpose: with overlapping sync the commit promise resolves before the fsync.
      // We acknowledge writes on that promise, so it must mean "on disk".
      overlappingSync: false,
      noSync: options.sync === false,
      // Never MDB_WRITEMAP (it saved a write() of each dirty page per unsynced commit, ~15-20 us
      // per one-INC transaction on the bench box): with it, a transaction that frees many pages and then writes (a snapshot import
      // replacing the state; random remove-all-and-put histories) aborted the process in
      // liblmdb's mdb_freelist_save (Assertion 'x <= dl[0].mid'), 5 of 6 seeds of
      // test/node/state-store-imports.test.ts; an LMDB bug still open upstream. Without it a
      // full disk is also an ENOSPC the node reports, not a SIGBUS.
      useWritemap: false,
    });
    const db = root.openDB<Buffer, Buffer>({ name: STATE_DB_NAME, keyEncoding: 'binary', encoding: 'binary' });
    return new LmdbStore(root, db, options.sync !== false);
  }

  /**
   * Runs `fn` inside one LMDB write transaction (on the main thread, synchronously) and
   * resolves with its return value once the transaction is committed and fsynced. If `fn`
   * throws, the promise rejects; treat that as a storage failure.
   */
  write<T>(fn: (txn: KvTxn) => T): Promise<T> {
    this.assertOpen();
    // Dropped once: writeNow neither uses nor keeps windows while an async write is under way.
    this.asyncWrites++;
    this.carried = new Map();
    return this.root.transaction(() => this.guarded(() => this.inTxn(fn).result)).catch((err: unknown) => {
      throw commitErrorHandled(err);
    }).finally(() => {
      this.asyncWrites--;
    });
  }

  /**
   * Runs `fn` in one write transaction committed before returning, on the main thread. Meant for
   * a store that does not fsync (`sync: false`): its commit is a few page writes, cheaper than
   * the worker-thread round trip of `write`; with fsync it would block the event loop.
   */
  writeNow<T>(fn: (txn: KvTxn) => T): T {
    this.assertOpen();
    // Empty while an async write is under way (write() dropped them, and nothing keeps new ones
    // until it is done). Gone unless this transaction commits: a throw leaves them empty.
    const carried = this.carried;
    this.carried = new Map();
    let view: CachedTxn | undefined;
    const result = this.root.transactionSync(() => this.guarded(() => {
      const ran = this.inTxn(fn, carried);
      // lmdb-js would commit a promise's transaction later, after the windows were carried.
      if (typeof (ran.result as { then?: unknown } | null)?.then === 'function') throw new Error('LmdbStore.writeNow: fn returned a promise');
      view = ran.view;
      return ran.result;
    }));
    if (this.asyncWrites === 0 && view !== undefined) this.carried = view.carry(CARRIED_PREFIXES);
    return result;
  }

  /** Runs `fn` over the latest committed state. */
  read<T>(fn: (kv: KvReader) => T): T {
    this.assertOpen();
    this.root.resetReadTxn();
    return fn(new CachedTxn(this.txnView()));
  }

  appliedIndex(): number {
    return this.read(getAppliedIndex);
  }

  /** Bytes of pages the state's entries fill (an upper bound of an image of it). */
  usedBytes(): number {
    const st = this.db.getStats() as { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
    return st.pageSize * (st.treeBranchPageCount + st.treeLeafPageCount + st.overflowPages);
  }

  summary(): StateSummary {
    return this.read(stateSummary);
  }

  /**
   * The whole state (sequences, tokens, meta incl. applied index) from ONE read transaction,
   * as chunks of about `chunkBytes` bytes. Iterate it to the end (or return early) to release
   * the read transaction. `reuse`: every chunk in one buffer, valid until the next is asked for
   * (encodeSnapshot).
   */
  *exportSnapshot(chunkBytes = 1 << 20, reuse = false): Generator<Buffer> {
    this.assertOpen();
    const txn = this.root.useReadTransaction();
    try {
      const entries = this.db.getRange({ transaction: txn });
      yield* encodeSnapshot(mapEntries(entries), chunkBytes, reuse);
    } finally {
      txn.done();
    }
  }

  /**
   * Replaces the whole state with a snapshot image, decoding it as it is written: neither image
   * nor entries sit in the heap whole (at 1M sequences that was ~160 MB). Without a writable
   * memory map LMDB keeps a transaction's dirty pages in the heap until it commits, so the image
   * is written in transactions of about `txnBytesMax` bytes of keys and values each (a 1M-key
   * image in one transaction took 30 MB more than in 4 MiB ones, bench of the twenty-first round
   * in bench/README.md). The old state is dropped whole first (mdb_drop frees its pages without copying them).
   *
   * Not atomic, but never wrong: the image's meta keys (applied index included; they sort first)
   * are held back and written in the last transaction, so a state left by an import that failed
   * or was killed part way has applied index 0, below any Raft snapshot's, and the node imports
   * its stored image again at its next start (shard-start.ts recoverLocalState); a failure now
   * also stops the node (raft-node.ts). If the first transaction fails the old state stays.
   * Synchronous transactions on purpose: one aborts if anything throws (a damaged image, a chunk
   * that cannot be read), where lmdb-js commits a batched one whose callback threw; and no other
   * code runs between them, so nothing ever reads a half-imported state.
   */
  async importSnapshot(chunks: Iterable<Uint8Array>, txnBytesMax = IMPORT_TXN_BYTES_MAX): Promise<void> {
    this.assertOpen();
    this.carried = new Map();
    const entries = snapshotEntryViews(chunks);
    const meta: KvEntry[] = [];
    let metaBytes = 0;
    // The last key appended, copied into one buffer rather than a new Buffer per key.
    const last = Buffer.allocUnsafe(KEY_BYTES_MAX);
    let lastLength = -1;
    let cleared = false;
    let done = false;
    try {
      while (!done) {
        this.root.transactionSync(() => this.guarded(() => {
          if (!cleared) this.db.clearSync();
          for (let bytes = 0; bytes < txnBytesMax; ) {
            const next = entries.next();
            if (next.done === true) {
              for (const e of meta) this.db.putSync(e.key, e.value);
              done = true;
              return;
            }
            const { key, value } = next.value;
            if (key[0] === SPACE_META) {
              metaBytes += key.length + value.length;
              if (metaBytes > IMPORT_META_BYTES_MAX) throw new Error(`snapshot image: meta keys over ${IMPORT_META_BYTES_MAX} bytes`);
              meta.push({ key: Buffer.from(key), value: Buffer.from(value) });
              continue;
            }
            // Appended (MDB_APPEND), each leaf page is filled before the next is begun, not split
            // in halves. A key not above the last one (no image of ours has one) is put as usual.
            if (lastLength < 0 || key.compare(last, 0, lastLength) > 0) {
              this.db.putSync(key, value, APPEND);
              lastLength = key.copy(last);
            } else {
              this.db.putSync(key, value);
            }
            bytes += key.length + value.length;
          }
        }));
        cleared = true;
      }
    } finally {
      entries.return(undefined);
    }
  }

  private guarded<T>(fn: () => T): T {
    if (this.writing) throw new Error('LmdbStore: a write inside another write transaction');
    this.writing = true;
    try {
      return fn();
    } finally {
      this.writing = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.root.close();
  }

  /**
   * The meta counters are written once per transaction; token records and sequence values bypass
   * the cache (cached-txn.ts): an INCS reads each of its sequences once (multi-inc.ts), a COUNT
   * block its one, so caching them only cost a string id and a copy per part (bench/apply.ts
   * --incs over 10,000 sequences: 2.9 -> 2.45 us per part; one hot sequence unchanged).
   */
  private inTxn<T>(fn: (txn: KvTxn) => T, carried?: ReadonlyMap<string, FirstWindow>): { result: T; view: CachedTxn } {
    const view = new CachedTxn(this.txnView(), [SPACE_META], [SPACE_TOKEN, SPACE_SEQUENCE], undefined, carried);
    const result = fn(view);
    view.flush();
    return { result, view };
  }

  private txnView(): KvTxn {
    const db = this.db;
    return {
      get: (key) => db.get(key),
      has: (key) => db.doesExist(key),
      first: (prefix) => firstWithPrefix(db, prefix),
      scan: (prefix, after) => scanPrefix(db, prefix, after),
      put: (key, value) => void db.putSync(key, value),
      remove: (key) => void db.removeSync(key),
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('LmdbStore is closed');
  }
}

function firstWithPrefix(db: Database<Buffer, Buffer>, prefix: Buffer): KvEntry | undefined {
  for (const entry of db.getRange({ start: prefix, limit: 1 })) {
    const found = toEntry(entry);
    return startsWith(found.key, prefix) ? found : undefined;
  }
  return undefined;
}

function* scanPrefix(db: Database<Buffer, Buffer>, prefix: Buffer, after?: Buffer): Generator<KvEntry> {
  const start = after !== undefined && Buffer.compare(after, prefix) > 0 ? after : prefix;
  for (const entry of db.getRange({ start })) {
    const found = toEntry(entry);
    if (!startsWith(found.key, prefix)) return;
    if (after !== undefined && Buffer.compare(found.key, after) <= 0) continue;
    yield found;
  }
}

function toEntry(entry: { key: unknown; value: unknown }): KvEntry {
  return { key: entry.key as Buffer, value: entry.value as Buffer };
}

function* mapEntries(entries: Iterable<{ key: unknown; value: unknown }>): Generator<KvEntry> {
  for (const entry of entries) yield toEntry(entry);
}
