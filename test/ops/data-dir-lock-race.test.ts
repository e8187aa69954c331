// A review: two processes started together on a data dir whose LOCK was left by a
// killed process (the usual state after kill -9 / a crash: a supervisor restart racing a manual
// start) can BOTH take the lock: each sees the stale pid, one unlinks the stale file and creates
// its own, the other then unlinks that fresh lock (node/disk/data-dir-lock.ts:35-36) and creates
// its own. Also an empty LOCK (created, pid not yet written) reads as stale (ownerOf -> null).
import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/temp-dir.ts';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

const CHILD = fileURLToPath(new URL('./lock-child.mjs', import.meta.url));

interface Child { ready: Promise<void>; start(atMs: number): void; out: Promise<string> }

function run(dir: string): Child {
  const c = spawn(process.execPath, [TS_LOADER_ARG, CHILD, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let readyNow = (): void => {};
  const ready = new Promise<void>((resolve) => (readyNow = resolve));
  c.stdout.on('data', (d) => {
    out += d;
    if (out.startsWith('READY\n')) readyNow();
  });
  c.on('exit', () => readyNow()); // a child that died loading must not hold the others back
  return {
    ready,
    start: (atMs) => c.stdin.end(`${atMs}\n`),
    out: new Promise((resolve) => c.on('exit', () => resolve(out.replace(/^READY\n/, '').trim()))),
  };
}

test('a stale LOCK taken over by several starters at once: at most one may hold the dir', async (t) => {
  t.timeout(120_000);
  const N = 6;
  // The rounds run at once, each on its own dir: the test is one round's wall time, not five.
  // Every child loads first; then all get the same start instant.
  const rounds = await Promise.all(Array.from({ length: 5 }, async () => {
    const dir = await tempDir(t);
    writeFileSync(join(dir, 'LOCK'), '999999\n'); // left by a killed process (no such pid)
    return Array.from({ length: N }, () => run(dir));
  }));
  await Promise.all(rounds.flat().map((c) => c.ready));
  const startAt = Date.now() + 200;
  for (const c of rounds.flat()) c.start(startAt);
  const gots = await Promise.all(rounds.map(async (children, round) => {
    const outs = await Promise.all(children.map((c) => c.out));
    const got = outs.filter((o) => o.startsWith('GOT')).length;
    t.log(`round ${round}: ${got} of ${N} took the lock (${outs.join(' | ')})`);
    return got;
  }));
  const worst = Math.max(...gots);
  t.true(worst <= 1, `${worst} processes held the data dir's lock at the same time`);
});
