/**
 * Opening the Raft log (lmdb-raft-storage.ts): moving a log an older version kept in LMDB into the
 * log files, and making the log continue the stored snapshot after a crash between the two.
 */
import type { Database, RootDatabase } from 'lmdb';
import { SeqError, ErrorCode } from '../../shared/errors.ts';
import type { Entry, HardState } from '../raft/types.ts';
import { decodeEntry, readU64 } from './log-entry-codec.ts';
import type { IndexTerm } from './wal-codec.ts';
import type { Wal } from './wal.ts';

/** Entries per write when an LMDB log of an older version is moved into the log files. */
const MIGRATE_CHUNK_ENTRIES = 4096;

/** An older version kept the log in LMDB (db `log`, meta `hs`): move it into the log files once. */
export function migrateLmdbLog(env: RootDatabase, meta: Database<unknown, string>, wal: Wal, trunc: IndexTerm): void {
  const legacy = env.openDB<Buffer, Buffer>('log', { keyEncoding: 'binary', encoding: 'binary' });
  if (wal.isEmpty) {
    let chunk: Entry[] = [];
    for (const { key, value } of legacy.getRange({})) {
      const e = decodeEntry(readU64(key, 0), value);
      if (e.index <= trunc.index) continue;
      chunk.push(e);
      if (chunk.length >= MIGRATE_CHUNK_ENTRIES) (wal.writeSync({ entries: chunk }), (chunk = []));
    }
    const hs = meta.get('hs') as HardState | undefined;
    if (chunk.length > 0 || hs) wal.writeSync({ entries: chunk, ...(hs ? { hardState: hs } : {}) });
  }
  // Only once the log files hold it durably (above): a crash before this repeats nothing.
  if (legacy.getKeysCount({ limit: 1 }) > 0 || meta.get('hs') !== undefined) {
    env.transactionSync(() => {
      legacy.clearSync();
      meta.removeSync('hs');
    });
  }
}

/**
 * The log must continue the stored snapshot. A crash between storing a received snapshot (LMDB)
 * and restarting the log after it (the RESET record) leaves the old log: keep its suffix only
 * if it holds the snapshot's own entry (then it continues it), else drop it (etcd's rule).
 */
export function reconcileWithSnapshot(wal: Wal, t: IndexTerm): void {
  if (wal.lastIndex() <= t.index) return wal.dropAll(t);
  if (wal.firstIndex() > t.index + 1) {
    throw new SeqError(ErrorCode.STORAGE, `raft log starts at ${wal.firstIndex()}, after the snapshot at ${t.index}: entries are missing`);
  }
  if (wal.firstIndex() <= t.index && wal.term(t.index) !== t.term) return wal.dropAll(t);
  wal.compact(t.index);
}
