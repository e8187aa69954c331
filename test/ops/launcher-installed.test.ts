/**
 * README, "Client library and command line": `npx seqdb inc ...` in a project that installed
 * seqdb as a dependency. npm hoists seqdb's dependencies (esbuild among them) into the
 * project's node_modules/, so the package has no node_modules/ of its own. The launcher must
 * still run (review `readme`: bin/bundle.js reads <package>/node_modules/esbuild/package.json).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/temp-dir.ts';
import { ROOT } from './helpers.ts';

const run = promisify(execFile);

test('seqdb installed as a dependency (hoisted node_modules) runs --help', async (t) => {
  const app = await tempDir(t, 'seqdb-installed-');
  const pkg = join(app, 'node_modules', 'seqdb');
  await mkdir(pkg, { recursive: true });
  for (const d of ['bin', 'node', 'router', 'shared', 'client']) await cp(join(ROOT, d), join(pkg, d), { recursive: true });
  for (const f of ['package.json', 'tsconfig.json']) await cp(join(ROOT, f), join(pkg, f));
  // The hoisted layout: every dependency beside seqdb, none inside it.
  for (const name of await readdir(join(ROOT, 'node_modules'))) {
    if (name.startsWith('.')) continue;
    await symlink(join(ROOT, 'node_modules', name), join(app, 'node_modules', name));
  }
  const r = await run(process.execPath, [join(pkg, 'bin', 'seqdb.js'), '--help'], {
    cwd: app,
    timeout: 60_000,
    env: { ...process.env, SEQDB_TSX: '', SEQDB_CACHE_DIR: '' },
  }).catch((err) => err);
  t.is(r.code ?? 0, 0, `stderr: ${r.stderr}`);
  t.regex(String(r.stdout), /^Usage: seqdb <command>/m);
});
