/**
 * `seqdb restore` onto a disk whose writes or syncs fail (EIO): it fails with a message (no
 * signal: a new LMDB environment is probed first, node/disk/write-probe.ts), and what it leaves is
 * nothing `seqdb dev` starts from.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256, writeBackupFile } from '../../node/backup/backup-file.ts';
import { encodeSnapshot } from '../../node/state-machine/index.ts';
import { META, u64 } from '../../node/state-machine/keys.ts';
import { ioFault, ioFaultLibrary } from '../helpers/io-fault.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const lib = ioFaultLibrary();

for (const [ops, where] of [['write,sync', 'lmdb-restoring/'], ['sync', 'lmdb-restoring/'], ['write,sync', '']]) {
  (lib === null ? test.skip : test.serial)(`a restore whose ${ops} calls fail under data/${where} (EIO) fails, and leaves nothing a node starts from`, async (t) => {
    t.timeout(60_000);
    const dir = await tempDir(t);
    const image = Buffer.concat([...encodeSnapshot([{ key: META.appliedIndex, value: u64(7n) }], 1 << 20)]);
    const file = join(dir, 'one.bak');
    await writeBackupFile(file, 'router', [{ meta: { shard: '1', index: 7, bytes: image.length, sha256: sha256(image), from: 'x:1' }, image }]);
    const data = join(dir, 'data');
    const fault = ioFault(lib!, dir, `${data}/${where}`, ops);
    fault.arm();
    const r = spawnSync(process.execPath, ['bin/seqdb.js', 'restore', '--in', file, '--data', data], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...fault.env }, timeout: 30_000 });
    t.log(`restore: exit ${r.status} ${r.signal} ${r.error?.message ?? ""}; ${(r.stderr + r.stdout).trim().split('\n').slice(-2).join(' | ')}; left ${existsSync(data) ? readdirSync(data).join(',') : '(nothing)'}`);
    t.not(r.status, 0);
    t.is(r.signal, null, 'killed by a signal');
    fault.heal();
    const left = existsSync(data) ? readdirSync(data) : [];
    if (left.length === 0) {
      // Nothing left (its data-dir lock's temp file included): restore runs again on the healed disk.
      const again = spawnSync(process.execPath, ['bin/seqdb.js', 'restore', '--in', file, '--data', data], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
      t.is(again.status, 0, again.stderr);
    } else {
      // Half a restore: refused, at once, saying what to do.
      const s = spawnSync(process.execPath, ['bin/seqdb.js', 'dev', '--port', '0', '--data', data], { cwd: ROOT, encoding: 'utf8', timeout: 8000 });
      t.log(`dev on it: exit ${s.status} ${s.signal}; ${(s.stderr + s.stdout).trim().split('\n').slice(-1).join('')}`);
      t.is(s.error, undefined, 'seqdb dev started on what the failed restore left (it ran until the timeout)');
      t.not(s.status, 0);
      t.regex(s.stderr, /restore that did not finish/);
    }
  });
}
