/**
 * The `seqdb` command (bin/seqdb.js) runs a cached bundle of the sources (bin/bundle.js): it must
 * run the sources as they are now (a changed file means a new bundle, never a stale one), reuse
 * the bundle while they do not change, and survive many processes starting at once on an empty
 * cache (dev clusters start every node together).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { cp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/temp-dir.ts';
import { ROOT } from './helpers.ts';

const run = promisify(execFile);

/** A copy of the package's sources, sharing node_modules, with its own bundle cache. */
async function packageCopy(t: { teardown(fn: () => unknown): void }): Promise<{ dir: string; cache: string }> {
  const dir = await tempDir(t, 'seqdb-launcher-');
  for (const d of ['bin', 'node', 'router', 'shared', 'client']) await cp(join(ROOT, d), join(dir, d), { recursive: true });
  for (const f of ['package.json', 'tsconfig.json']) await cp(join(ROOT, f), join(dir, f));
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return { dir, cache: join(dir, '.cache', 'seqdb') };
}

function seqdb(dir: string, cache: string, args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, [join(dir, 'bin', 'seqdb.js'), ...args], {
    cwd: dir,
    timeout: 60_000,
    env: { ...process.env, SEQDB_CACHE_DIR: cache, SEQDB_TSX: '', ...env },
  });
}

const bundles = async (cache: string): Promise<string[]> => (await readdir(cache).catch(() => [])).sort();

test('one bundle per state of the sources: reused while they stay, rebuilt when one changes', async (t) => {
  const { dir, cache } = await packageCopy(t);
  const first = await seqdb(dir, cache, ['--help']);
  t.regex(first.stdout, /^Usage: seqdb <command>/m);
  const [bundle, ...more] = await bundles(cache);
  t.truthy(bundle);
  t.deepEqual(more, []);
  const builtMs = (await stat(join(cache, bundle!))).mtimeMs;

  await seqdb(dir, cache, ['--help']);
  t.deepEqual(await bundles(cache), [bundle]);
  t.is((await stat(join(cache, bundle!))).mtimeMs, builtMs, 'the second start reuses the bundle');

  // A changed source must show at once: the next start runs it, not the cached bundle.
  const main = join(dir, 'bin', 'seqdb.ts');
  await writeFile(main, (await readFile(main, 'utf8')).replace('Usage: seqdb <command>', 'Usage: seqdb-changed <command>'));
  const changed = await seqdb(dir, cache, ['--help']);
  t.regex(changed.stdout, /^Usage: seqdb-changed <command>/m);
  t.is((await bundles(cache)).length, 2);
});

test('processes starting together on an empty cache all run, leaving one whole bundle', async (t) => {
  const { dir, cache } = await packageCopy(t);
  const outs = await Promise.all(Array.from({ length: 6 }, () => seqdb(dir, cache, ['--help'])));
  for (const o of outs) t.regex(o.stdout, /^Usage: seqdb <command>/m);
  const files = await bundles(cache);
  t.is(files.length, 1, `left: ${files.join(', ')}`);
  t.regex(files[0]!, /^seqdb-[0-9a-f]{20}\.mjs$/);
});

test('SEQDB_TSX=1 runs the sources through tsx and builds nothing', async (t) => {
  const { dir, cache } = await packageCopy(t);
  const out = await seqdb(dir, cache, ['--help'], { SEQDB_TSX: '1' });
  t.regex(out.stdout, /^Usage: seqdb <command>/m);
  t.deepEqual(await bundles(cache), []);
});

test('a cache that cannot be written falls back to tsx with a warning', async (t) => {
  const { dir } = await packageCopy(t);
  const notADir = join(dir, 'package.json', 'cache'); // under a file: ENOTDIR, as a read-only dir gives EACCES/EROFS
  const out = await seqdb(dir, notADir, ['--help']);
  t.regex(out.stdout, /^Usage: seqdb <command>/m);
  t.regex(out.stderr, /cannot cache the bundle \(ENOTDIR\); running through tsx/);
});

test('a command that fails in the bundle exits with its own code and message', async (t) => {
  const { dir, cache } = await packageCopy(t);
  const err = await seqdb(dir, cache, ['no-such-command']).then(() => null, (e: { code: number; stderr: string }) => e);
  t.truthy(err, 'an unknown command must fail');
  t.not(err!.code, 0);
  t.regex(err!.stderr, /no-such-command/);
});
