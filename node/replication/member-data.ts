/**
 * Whether a data dir holds a shard member's Raft data: a log or snapshot it stored (bootstrap,
 * InstallSnapshot, any entry or hard state), not just the empty `raft/` every `seqdb node` start
 * creates before it joins anything. A single node refuses such a dir (node/single/single-node.ts):
 * the member's state may lag its shard's log. A dir whose node start failed or was stopped
 * before it joined a shard (a restore's first-node start, say) is no member's yet and stays a
 * single node's (a review).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { hasSegmentFiles } from './wal-segment-files.ts';

export function holdsShardLog(dataDir: string): boolean {
  const raftDir = join(dataDir, 'raft');
  if (!existsSync(join(raftDir, 'data.mdb'))) return false;
  if (hasSegmentFiles(join(raftDir, 'wal'))) return true;
  // No log file yet: a snapshot (meta snap/trunc), or a log of the format before log files.
  const env = open({ path: raftDir, readOnly: true, maxDbs: 4 });
  try {
    const meta = env.openDB<unknown, string>('meta', {});
    if (meta.get('snap') !== undefined || meta.get('trunc') !== undefined || meta.get('hs') !== undefined) return true;
    const legacy = env.openDB<Buffer, Buffer>('log', { keyEncoding: 'binary', encoding: 'binary' });
    return legacy.getKeysCount() > 0;
  } catch {
    return false; // no such db: nothing stored
  } finally {
    void env.close();
  }
}
