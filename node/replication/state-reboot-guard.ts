/**
 * A replica's state-machine LMDB is written without fsync (see `prepareStateDir`): the Raft log
 * and its snapshot are the durable copy, the state is a materialized view of them. A process
 * crash (kill -9) loses nothing, because the written pages sit in the OS page cache; only an OS
 * crash or power loss can lose or tear them, and LMDB without fsync may then be corrupt. Both
 * cases mean the OS restarted, so the state dir records the boot id of the OS that wrote it, and
 * a node that finds another boot id discards the state and rebuilds it from its Raft snapshot
 * and log (the same path as a node that crashed while installing a snapshot).
 *
 * That holds only once the node is part of a shard (its Raft storage initialized). Before, the
 * state dir is empty or a `seqdb restore` output: fsynced, the only copy, and in no Raft snapshot
 * yet (bootstrap puts it there). Such a state is never discarded (unless this node created it
 * itself, `created-by-node`: empty and unsynced, under another boot), and is written with fsync until
 * the next start after the node joined (a review: a reboot while a restored node waited for its
 * --join peers deleted the restored state, and the shard handed out its numbers again).
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../../shared/durable-file.ts';

const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';
const MARKER = 'written-by-boot';
/** The node created this state itself, empty and unsynced, before it was in a shard (never a restore output). */
const CREATED_MARKER = 'created-by-node';

/** The running OS's boot id, or null where the platform has none (then the state is fsynced). */
export function currentBootId(path = BOOT_ID_PATH): string | null {
  try {
    const id = readFileSync(path, 'latin1').trim();
    return id === '' ? null : id;
  } catch {
    return null;
  }
}

export interface StateDirPlan {
  /** Whether commits of the state may skip fsync (a boot id is available to guard them). */
  readonly sync: boolean;
  /** True if an unsynced state from an earlier OS boot was discarded. */
  readonly discarded: boolean;
}

/**
 * Readies the state dir before LMDB opens it: discards a state that an earlier OS boot wrote
 * without fsync, then records this boot (durably, before any unsynced write can happen).
 * `raftInitialized`: whether the node's Raft storage holds a shard (its snapshot and log can
 * rebuild the state); before it does, an existing state is kept and written with fsync.
 */
export function prepareStateDir(dir: string, bootId: string | null = currentBootId(), raftInitialized = true): StateDirPlan {
  mkdirSync(dir, { recursive: true });
  if (bootId === null) return { sync: true, discarded: false };
  const markerPath = join(dir, MARKER);
  const writtenBy = existsSync(markerPath) ? readFileSync(markerPath, 'latin1').trim() : null;
  const hasState = existsSync(join(dir, 'data.mdb'));
  // Not in a shard yet: a restore output is kept and fsynced. But a state this node created
  // itself (empty, unsynced: nothing is in it before the node joins or founds a shard) is
  // discarded after an OS restart like any other (a review: a torn one was kept, and LMDB
  // crashed opening it at every start).
  const createdByNode = existsSync(join(dir, CREATED_MARKER));
  if (!raftInitialized && hasState && !(createdByNode && writtenBy !== bootId)) return { sync: true, discarded: false };
  if (!raftInitialized && (!hasState || createdByNode)) writeFileDurably(join(dir, CREATED_MARKER), bootId);
  let discarded = false;
  if (writtenBy !== null && writtenBy !== bootId) {
    for (const f of ['data.mdb', 'lock.mdb']) rmSync(join(dir, f), { force: true });
    discarded = true;
  }
  // Synced at every start, also when it already names this boot: a start whose sync of it failed
  // (a disk error) left it in the page cache only, and the next start in the same boot would then
  // write the state unsynced with no durable marker, one an OS crash could lose (a review).
  writeFileDurably(markerPath, bootId);
  return { sync: false, discarded };
}
