/**
 * The `seqdb` command (bin/seqdb.js) runs a cached bundle of the sources (bin/bundle.js): it must
 * run the sources as they are now (a changed file means a new bundle, never a stale one), reuse
 * the bundle while they do not change, survive many processes starting at once on an empty
 * cache (dev clusters start every node together), and never run a bundle cut short by a crash.
 */
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, readdir, readFile, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/temp-dir.ts';
import { ROOT } from './helpers.ts';
import { infoFields } from '../../shared/observability/resp-call.ts';

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
  for (let round = 0; round < 3; round++) {
    // A new state of the sources each round: every process of the round finds no bundle.
    await writeFile(join(dir, 'shared', 'launcher-round.ts'), `export const ROUND = ${round};\n`);
    const outs = await Promise.all(Array.from({ length: 8 }, () => seqdb(dir, cache, ['--help'])));
    for (const o of outs) t.regex(o.stdout, /^Usage: seqdb <command>/m);
  }
  const files = await bundles(cache);
  t.is(files.length, 3, `left: ${files.join(', ')}`);
  for (const f of files) t.regex(f, /^seqdb-[0-9a-f]{20}\.mjs$/);
});

test('a bundle cut short (a crash right after its build) is rebuilt, not run', async (t) => {
  const { dir, cache } = await packageCopy(t);
  await seqdb(dir, cache, ['--help']);
  const [bundle] = await bundles(cache);
  const path = join(cache, bundle!);
  const size = (await stat(path)).size;
  await truncate(path, Math.floor(size / 2));
  const again = await seqdb(dir, cache, ['--help']);
  t.regex(again.stdout, /^Usage: seqdb <command>/m);
  t.is((await stat(path)).size, size);
});

test('SEQDB_CACHE_DIR outside the package is refused with a reason', async (t) => {
  const { dir } = await packageCopy(t);
  const outside = await tempDir(t, 'seqdb-launcher-out-');
  const err = await seqdb(dir, outside, ['--help']).then(() => null, (e: { code: number; stderr: string }) => e);
  t.truthy(err);
  t.is(err!.code, 2, 'a usage error, as the README says of bad values');
  t.regex(err!.stderr, /^seqdb: SEQDB_CACHE_DIR .* is outside the package directory \S+\n$/, 'one line, no stack trace');
});

test('a bundle whose real path lies in another checkout still serves its own package', async (t) => {
  // Checkout B's cache is a symlink into checkout A (as a shared node_modules/ would make it):
  // the bundle's real path is under A, yet B's package.json must be the one read.
  const a = await tempDir(t, 'seqdb-launcher-a-');
  await writeFile(join(a, 'package.json'), JSON.stringify({ name: 'seqdb', version: '1.0.0-a' }));
  await symlink(join(ROOT, 'node_modules'), join(a, 'node_modules'));
  await mkdir(join(a, '.cache'));
  const { dir: b } = await packageCopy(t);
  const pkg = JSON.parse(await readFile(join(b, 'package.json'), 'utf8')) as { version: string };
  await writeFile(join(b, 'package.json'), JSON.stringify({ ...pkg, version: '9.9.9-b' }));
  await symlink(join(a, '.cache'), join(b, '.cache'));
  const data = await tempDir(t, 'seqdb-launcher-data-');
  const child = spawn(process.execPath, [join(b, 'bin', 'seqdb.js'), 'dev', '--port', '0', '--data', data], {
    cwd: b,
    env: { ...process.env, SEQDB_CACHE_DIR: join(b, '.cache', 'seqdb'), SEQDB_TSX: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const addr = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', () => reject(new Error(`seqdb dev exited: ${out}`)));
  });
  t.is((await infoFields(addr, 5000)).version, '9.9.9-b');
  t.true((await readdir(join(a, '.cache', 'seqdb'))).length === 1, 'the bundle went into A through the symlink');
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
