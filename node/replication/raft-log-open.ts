/**
 * Opening the Raft log (lmdb-raft-storage.ts): moving a log an older version kept in LMDB into the
 * log files, and making the log continue the stored snapshot after a crash between the two.
 */
import { renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database, RootDatabase } from 'lmdb';
import { SeqError, ErrorCode } from '../../shared/errors.ts';
import type { Entry, HardState } from '../raft/types.ts';
import { decodeEntry, readU64 } from './log-entry-codec.ts';
import type { IndexTerm } from './wal-codec.ts';
import { Wal } from './wal.ts';
import { fsyncDir } from '../../shared/durable-file.ts';

/** Entries per write when an LMDB log of an older version is moved into the log files. */
const MIGRATE_CHUNK_ENTRIES = 4096;

/**
 * An older version kept the log in LMDB (db `log`, hard state in meta `hs`): move it into the log
 * files at `walDir` once. Built whole in a sibling directory and renamed into place, so a crash
 * leaves either no log files (the move runs again) or all of them; the LMDB copy is cleared only
 * after that.
 */
export function migrateLmdbLog(env: RootDatabase, meta: Database<unknown, string>, walDir: string, trunc: IndexTerm): void {
  const legacy = env.openDB<Buffer, Buffer>('log', { keyEncoding: 'binary', encoding: 'binary' });
  const hs = meta.get('hs') as HardState | undefined;
  if (legacy.getKeysCount({ limit: 1 }) === 0 && hs === undefined) return;
  if (!Wal.hasSegments(walDir)) {
    const tmp = `${walDir}.moving`;
    rmSync(tmp, { recursive: true, force: true });
    const wal = Wal.open({ dir: tmp });
    if (hs) wal.writeSync({ hardState: hs });
    let chunk: Entry[] = [];
    for (const { key, value } of legacy.getRange({})) {
      const e = decodeEntry(readU64(key, 0), value);
      if (e.index <= trunc.index) continue;
      chunk.push(e);
      if (chunk.length >= MIGRATE_CHUNK_ENTRIES) (wal.writeSync({ entries: chunk }), (chunk = []));
    }
    if (chunk.length > 0) wal.writeSync({ entries: chunk });
    wal.closeSync();
    rmSync(walDir, { recursive: true, force: true });
    renameSync(tmp, walDir);
    fsyncDir(dirname(walDir));
  }
  env.transactionSync(() => {
    legacy.clearSync();
    meta.removeSync('hs');
  });
}

/**
 * The log must continue the stored snapshot. A crash between storing a received snapshot (LMDB)
 * and restarting the log after it (the RESET record) leaves the old log: keep its suffix only
 * if it holds the snapshot's own entry (then it continues it), else restart the log after the
 * snapshot, on disk (a RESET record), so that what is appended next is replayed after it.
 */
export function reconcileWithSnapshot(wal: Wal, t: IndexTerm): void {
  const empty = wal.lastIndex() < wal.firstIndex();
  if (wal.lastIndex() <= t.index) {
    if (!empty || wal.firstIndex() !== t.index + 1) wal.writeSync({ reset: t });
    return;
  }
  if (wal.firstIndex() > t.index + 1) {
    throw new SeqError(ErrorCode.STORAGE, `raft log starts at ${wal.firstIndex()}, after the snapshot at ${t.index}: entries are missing`);
  }
  if (wal.firstIndex() <= t.index && wal.term(t.index) !== t.term) return wal.writeSync({ reset: t });
  wal.compact(t.index);
}
