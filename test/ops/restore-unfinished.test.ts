/**
 * A restore that stops halfway (SIGKILL, ENOSPC) must not leave a state that looks complete: a node started on it handed out the
 * missing shard's numbers again (a review). The state is written beside `lmdb` and renamed at the
 * end; nodes refuse a dir holding an unfinished one, and so does another restore.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256, writeBackupFile } from '../../node/backup/backup-file.ts';
import { restore } from '../../node/backup/restore.ts';
import { startSingleNode } from '../../node/single/single-node.ts';
import { encodeSnapshot } from '../../node/state-machine/index.ts';
import { META, u64 } from '../../node/state-machine/keys.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { freePort, seqdb } from './helpers.ts';
import { tempDir } from '../helpers/temp-dir.ts';

/** A temp dir holding `one.bak`: a backup of one shard whose state is its applied index alone. */
async function oneShardBackup(t: { teardown(fn: () => unknown): void }): Promise<{ dir: string; file: string }> {
  const dir = await tempDir(t, 'seqdb-restore-');
  const image = Buffer.concat([...encodeSnapshot([{ key: META.appliedIndex, value: u64(7n) }], 1 << 20)]);
  const file = join(dir, 'one.bak');
  await writeBackupFile(file, 'router', [{ meta: { shard: '1', index: 7, bytes: image.length, sha256: sha256(image), from: 'x:1' }, image }]);
  return { dir, file };
}

test('what a restore killed halfway leaves (its state under lmdb-restoring) is refused by nodes and by another restore', async (t) => {
  const { dir, file } = await oneShardBackup(t);
  // A restore writes here until every image is in (SIGKILL, ENOSPC: it stops with this left).
  const data = join(dir, 'data');
  await mkdir(join(data, 'lmdb-restoring'), { recursive: true });
  const err = await t.throwsAsync(startSingleNode({ dataDir: data, server: { host: '127.0.0.1', port: 0 } }));
  t.is((err as { code?: string }).code, ErrorCode.STORAGE);
  t.false(existsSync(join(data, 'LOCK')), 'the refusing node let go of the lock');
  const again = await t.throwsAsync(restore({ in: file, dataDir: data }));
  t.is((again as { code?: string }).code, ErrorCode.IDENTITY_MISMATCH, 'not restored over it either');
  const replica = seqdb(t, ['node', '--shard', '1', '--host', '127.0.0.1', '--port', String(await freePort()), '--data', data, '--bootstrap-expect', '1']);
  const { code } = await replica.exited;
  t.not(code, 0);
  t.regex(replica.output(), /restore that did not finish/);
});

test('a complete restore leaves lmdb and nothing else of its own', async (t) => {
  const { dir, file } = await oneShardBackup(t);
  const data = join(dir, 'data');
  await restore({ in: file, dataDir: data });
  t.true(existsSync(join(data, 'lmdb', 'data.mdb')));
  t.false(existsSync(join(data, 'lmdb-restoring')));
  t.false(existsSync(join(data, 'LOCK')));
  const node = await startSingleNode({ dataDir: data, server: { host: '127.0.0.1', port: 0 } });
  await node.close();
});
