/**
 * A state whose shard moved to token rules newer than this build's (a binary rolled back past the
 * upgrade) is refused at start (STORAGE), by a single node and by a shard member, instead of
 * evicting tokens by older rules than its peers. Real data dirs, real processes.
 */
import test from 'ava';
import { join } from 'node:path';
import { startSingleNode } from '../../node/single/single-node.ts';
import { LmdbStore, encodeSnapshot } from '../../node/state-machine/index.ts';
import { setMeta } from '../../node/state-machine/meta.ts';
import { META, u64 } from '../../node/state-machine/keys.ts';
import { storedTokenRules } from '../../node/state-machine/token-options.ts';
import { sha256, writeBackupFile } from '../../node/backup/backup-file.ts';
import { restore } from '../../node/backup/restore.ts';
import { readdir } from 'node:fs/promises';
import { TOKEN_RULES_LATEST } from '../../node/state-machine/options.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { incRetry, loneMember, seqdb } from './helpers.ts';
import { tempDir } from '../helpers/temp-dir.ts';

/** What a newer build's CLUSTER TOKENRULES left in the state of `dataDir`. */
async function storeNewerRules(dataDir: string): Promise<void> {
  const store = LmdbStore.open({ path: join(dataDir, 'lmdb') });
  await store.write((txn) => setMeta(txn, 'tokenRules', BigInt(TOKEN_RULES_LATEST + 1)));
  await store.close();
}

test('a single node refuses a state of newer token rules, and lets go of its data dir', async (t) => {
  const dir = await tempDir(t, 'seqdb-rules-');
  const first = await startSingleNode({ dataDir: dir, server: { host: '127.0.0.1', port: 0 } });
  await first.close();
  await storeNewerRules(dir);
  const err = await t.throwsAsync(startSingleNode({ dataDir: dir, server: { host: '127.0.0.1', port: 0 } }));
  t.is((err as { code?: string }).code, ErrorCode.STORAGE);
  t.regex((err as Error).message, /newer than this build/);
  await storeNewerRules(dir); // the store was closed and the lock released: the dir opens again
});

test('a shard member refuses a state of newer token rules at start', async (t) => {
  const dir = join(await tempDir(t, 'seqdb-rules-'), 'n0');
  const { addr, args, proc: member } = await loneMember(t, dir);
  t.is(await incRetry([addr], 'b', 's', 'tok-1', 30_000), 1n);
  member.child.kill('SIGKILL');
  await member.exited;
  await storeNewerRules(dir);
  const again = seqdb(t, args);
  const { code } = await again.exited;
  t.not(code, 0);
  t.regex(again.output(), /token rules \d+, newer than this build/);
});

test('a single node stores the token rules it applies, so that a build of later rules can be told apart', async (t) => {
  const dir = await tempDir(t, 'seqdb-rules-');
  const node = await startSingleNode({ dataDir: dir, server: { host: '127.0.0.1', port: 0 } });
  await node.close();
  const store = LmdbStore.open({ path: join(dir, 'lmdb') });
  t.teardown(() => store.close());
  t.is(store.read(storedTokenRules), TOKEN_RULES_LATEST);
});

test('restore refuses a backup of a shard at newer token rules before writing anything', async (t) => {
  const dir = await tempDir(t, 'seqdb-rules-');
  /** A backup of one shard whose state is its applied index (and, if given, its token rules). */
  const backup = async (name: string, rules?: number): Promise<string> => {
    const entries = [{ key: META.appliedIndex, value: u64(7n) }, ...(rules !== undefined ? [{ key: META.tokenRules, value: u64(BigInt(rules)) }] : [])];
    entries.sort((a, b) => Buffer.compare(a.key, b.key));
    const image = Buffer.concat([...encodeSnapshot(entries, 1 << 20)]);
    const file = join(dir, name);
    await writeBackupFile(file, 'router', [{ meta: { shard: '1', index: 7, bytes: image.length, sha256: sha256(image), from: 'x:1' }, image }]);
    return file;
  };
  const data = join(dir, 'data');
  const err = await t.throwsAsync(restore({ in: await backup('newer.bak', TOKEN_RULES_LATEST + 1), dataDir: data }));
  t.is((err as { code?: string }).code, ErrorCode.STORAGE);
  t.regex((err as Error).message, /newer than this build/);
  t.deepEqual(await readdir(data), [], 'nothing written, the lock released');
  await restore({ in: await backup('same.bak', TOKEN_RULES_LATEST), dataDir: data });
  const store = LmdbStore.open({ path: join(data, 'lmdb') });
  t.teardown(() => store.close());
  t.is(store.read(storedTokenRules), TOKEN_RULES_LATEST, 'the restored state carries the backup\'s rules');
});
