/**
 * prepareStateDir rewrites lmdb/written-by-boot at every start. Rewritten in place (truncate, then
 * write), a write that failed (EIO) left it empty, and the next start in the same boot read ''
 * as "another boot" and discarded the state (a review). It is written aside and renamed.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareStateDir } from '../../node/replication/state-reboot-guard.ts';
import { ioFault, ioFaultLibrary } from '../helpers/io-fault.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GUARD = join(ROOT, 'node/replication/state-reboot-guard.ts');
const lib = ioFaultLibrary();

(lib === null ? test.skip : test)('a same-boot start whose marker write failed leaves the marker whole: the next same-boot start keeps the state', async (t) => {
  const dir = await tempDir(t);
  const state = join(dir, 'lmdb');
  t.deepEqual(prepareStateDir(state, 'boot-a', true), { sync: false, discarded: false });
  writeFileSync(join(state, 'data.mdb'), 'state written in boot-a');
  // Start 2, same boot, its disk failing writes: it fails (fine).
  const fault = ioFault(lib!, dir, `${state}/written-by-boot`, 'write');
  fault.arm();
  const r = spawnSync(process.execPath, [TS_LOADER_ARG, '-e',
    `import('${GUARD}').then((m) => { try { m.prepareStateDir(${JSON.stringify(state)}, 'boot-a', true); console.log('started'); } catch (e) { console.log('start failed: ' + e.code); } })`],
  { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...fault.env }, timeout: 30_000 });
  fault.heal();
  t.log(`start on the failing disk: ${(r.stdout + r.stderr).trim()}; marker now ${JSON.stringify(readFileSync(join(state, 'written-by-boot'), 'latin1'))}`);
  // Start 3, same boot, disk healed: the state this boot wrote must be kept.
  const plan = prepareStateDir(state, 'boot-a', true);
  t.deepEqual(plan, { sync: false, discarded: false }, 'the same boot\'s state was discarded');
  t.true(existsSync(join(state, 'data.mdb')));
});
