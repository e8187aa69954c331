/**
 * Token rules 2 hold recent tokens due for eviction off the eviction order (node/state-machine/
 * tokens.ts, `04 | time | serial`). A restore merges each image's tokens by that order
 * (node/backup/restore.ts): held ones must come along, or a retry of one after a restore would
 * take a second number.
 */
import test from 'ava';
import { join } from 'node:path';
import { LmdbStore, StateMachine, decodeCommand } from '../../node/state-machine/index.ts';
import { getMeta } from '../../node/state-machine/meta.ts';
import { setTokenOptions } from '../../node/state-machine/token-options.ts';
import { sha256, writeBackupFile } from '../../node/backup/backup-file.ts';
import { restore } from '../../node/backup/restore.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { T0, entry, show } from '../helpers/token-log.ts';

const AHEAD_MS = 50_000;
const skewed = (i: number): Uint8Array => entry(1 + i, 'INC', 'b', 's', 'ID', `${T0 + 1 + i + AHEAD_MS}-skewed${i}`);

test('a restore keeps the held tokens: their retries get their numbers', async (t) => {
  const dir = await tempDir(t);
  const machine = new StateMachine({ tokenRules: 2 });
  const source = LmdbStore.open({ path: join(dir, 'source') });
  try {
    await source.write((txn) => {
      setTokenOptions(txn, { tokenRetentionMs: 86_400_000, tokensMax: 2 });
      for (let i = 0; i < 6; i++) {
        const d = decodeCommand(skewed(i));
        machine.apply(txn, d.command, d.timeMs);
      }
    });
    t.is(source.read((kv) => Number(getMeta(kv, 'tokensHeld'))), 4, 'beyond the bound of 2, four are held');
    const image = Buffer.concat([...source.exportSnapshot()]);
    await writeBackupFile(join(dir, 'b.bak'), 'single', [{ meta: { shard: '1', index: 0, bytes: image.length, sha256: sha256(image), from: 'x:1' }, image }]);
  } finally {
    await source.close();
  }
  const summary = await restore({ in: join(dir, 'b.bak'), dataDir: join(dir, 'restored') });
  t.is(summary.tokens, 6);
  const restored = LmdbStore.open({ path: join(dir, 'restored', 'lmdb') });
  try {
    const replies = await restored.write((txn) => [0, 1, 2, 3, 4, 5].map((i) => {
      const d = decodeCommand(skewed(i));
      return show(machine.apply(txn, d.command, d.timeMs + 10));
    }));
    t.deepEqual(replies, ['1', '2', '3', '4', '5', '6'], 'every retry finds its number');
  } finally {
    await restored.close();
  }
});
