/**
 * The bench and simulator scripts answer --help with their usage, and a bad option with one line
 * and exit 2, not a stack trace (bench/tool-args.ts).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/netns.ts';

function run(script: string, args: readonly string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import=./test/loader/register.mjs', script, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('a bench script: --help prints its usage, an unknown option is one line and exit 2', (t) => {
  const help = run('bench/apply.ts', ['--help']);
  t.is(help.code, 0);
  t.regex(help.out, /^Usage: node --import=tsx bench\/apply\.ts .*--incs/);
  const bad = run('bench/apply.ts', ['--bogus']);
  t.is(bad.code, 2);
  t.regex(bad.err, /^bench\/apply\.ts: Unknown option '--bogus'\nUsage: /);
  t.notRegex(bad.err, /\n\s+at /, 'a stack trace');
});

test('npm run sim: bad values of its own checks are one line and exit 2 too', (t) => {
  for (const args of [['--nodes', '4'], ['--bogus'], ['--seeds', 'x']]) {
    const r = run('test/sim/cli.ts', args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.err, /^npm run sim: .*\nUsage: npm run sim -- /, args.join(' '));
    t.notRegex(r.err, /\n\s+at /, 'a stack trace');
  }
});

test('every bench script that takes options parses them through toolArgs', (t) => {
  const bench = join(REPO_ROOT, 'bench');
  const raw = readdirSync(bench).filter((f) => f.endsWith('.ts') && f !== 'tool-args.ts' && /\bparseArgs\(/.test(readFileSync(join(bench, f), 'utf8')));
  t.deepEqual(raw, [], 'calling parseArgs directly (a bad option would print a stack trace)');
});
