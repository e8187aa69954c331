/**
 * LMDB treats an existing 0-byte data.mdb as a NEW environment and writes its meta pages first:
 * what an open killed right after creating the file leaves. The write probe
 * (node/disk/write-probe.ts) must run then too, or lmdb-js dies by SIGSEGV on a failing disk (a
 * review: it was skipped whenever data.mdb existed).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ioFault, ioFaultLibrary } from '../helpers/io-fault.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const lib = ioFaultLibrary();

(lib === null ? test.skip : test)('seqdb dev on a failing disk with an empty lmdb/data.mdb exits 1 saying why, not by a signal', async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'data');
  mkdirSync(join(data, 'lmdb'), { recursive: true });
  writeFileSync(join(data, 'lmdb', 'data.mdb'), '');
  const fault = ioFault(lib!, dir, `${data}/lmdb/`, 'write');
  fault.arm();
  const r = spawnSync(process.execPath, ['bin/seqdb.js', 'dev', '--port', '0', '--data', data], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...fault.env }, timeout: 15_000 });
  t.log(`exit ${r.status} ${r.signal}: ${(r.stderr + r.stdout).trim().slice(-300)}`);
  t.is(r.signal, null, 'killed by a signal');
  t.is(r.status, 1);
});
