/**
 * The test loader's cache (hooks.mjs): a child process run through it gets its .ts transformed and
 * cached under $TMPDIR, and a process that writes an entry removes, at most once an hour, the
 * entries written more than three days ago. Real processes, a temp dir standing in for the OS's.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

const DAY_S = 24 * 3600;

async function setup(t: import('ava').ExecutionContext): Promise<{ tmp: string; cache: string; run: (source: string) => void }> {
  const tmp = await mkdtemp(join(tmpdir(), 'seqdb-loader-cache-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const cache = join(tmp, `seqdb-ts-cache-${process.getuid?.() ?? 'u'}`);
  mkdirSync(cache);
  let n = 0;
  const run = (source: string): void => {
    const script = join(tmp, `script-${n++}.ts`);
    writeFileSync(script, source);
    const r = spawnSync(process.execPath, [TS_LOADER_ARG, script], { env: { ...process.env, TMPDIR: tmp }, encoding: 'utf8', timeout: 30_000 });
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout, 'ran\n');
  };
  return { tmp, cache, run };
}

/** A fake entry written `ageS` seconds ago. */
function entry(cache: string, name: string, ageS: number): void {
  const path = join(cache, name);
  writeFileSync(path, 'export {};\n');
  const at = Date.now() / 1000 - ageS;
  utimesSync(path, at, at);
}

test('a new entry prunes entries older than three days, keeps the rest, and marks the time', async (t) => {
  const { cache, run } = await setup(t);
  entry(cache, 'old.mjs', 4 * DAY_S);
  entry(cache, 'old.mjs.123.tmp', 4 * DAY_S);
  entry(cache, 'recent.mjs', 2 * DAY_S);
  run('const x: number = 1; console.log(x === 1 ? "ran" : "no");\n');
  const names = readdirSync(cache);
  t.false(names.includes('old.mjs'));
  t.false(names.includes('old.mjs.123.tmp'));
  t.true(names.includes('recent.mjs'));
  t.true(names.includes('.pruned'));
  t.is(names.filter((n) => n.endsWith('.mjs')).length, 2, 'recent.mjs and the script just transformed');
});

test('within the hour after a prune, entries are left alone', async (t) => {
  const { cache, run } = await setup(t);
  entry(cache, '.pruned', 60);
  entry(cache, 'old.mjs', 4 * DAY_S);
  const source = 'const y: string = "ran"; console.log(y);\n';
  run(source);
  t.true(existsSync(join(cache, 'old.mjs')), 'pruned less than an hour ago: not again');
  entry(cache, '.pruned', 2 * 3600);
  const before = readdirSync(cache).sort();
  run(source.replaceAll('y', 'z')); // another script: a miss, so a prune
  t.false(existsSync(join(cache, 'old.mjs')));
  t.is(readdirSync(cache).filter((n) => n.endsWith('.mjs')).length, before.filter((n) => n.endsWith('.mjs')).length, 'one entry added, old.mjs removed');
});
