/**
 * A NEW LMDB environment on a disk whose writes fail (EIO): lmdb-js dies by SIGSEGV inside open()
 * when its first write fails (no message, exit by signal; a review). node/disk/write-probe.ts
 * writes and syncs a probe file first, so the process exits 1 saying why.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ioFault, ioFaultLibrary } from '../helpers/io-fault.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const lib = ioFaultLibrary();

(lib === null ? test.skip : test)('seqdb dev on a fresh data dir whose LMDB writes fail (EIO) exits 1 saying why, not by SIGSEGV', async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'data');
  const fault = ioFault(lib!, dir, `${data}/lmdb/`, 'write'); // a disk that fails fails every file
  fault.arm();
  const r = spawnSync(process.execPath, ['bin/seqdb.js', 'dev', '--port', '0', '--data', data], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...fault.env }, timeout: 15_000 });
  t.log(`exit ${r.status} ${r.signal}: ${(r.stderr + r.stdout).trim().slice(-300)}`);
  t.is(r.signal, null, 'killed by a signal');
  t.is(r.status, 1);
  t.regex(r.stderr, /EIO|i\/o error|input\/output/i);
});
