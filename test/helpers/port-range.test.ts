import test from 'ava';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './temp-dir.ts';
import { ephemeralLow } from './port-range.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A claimer process with its own TMPDIR; resolves with its first line, and a way to end it. */
function claimer(tmp: string, args: readonly string[]): Promise<{ line: string; end: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import=./test/loader/register.mjs', 'test/helpers/port-range-claimer.ts', ...args], {
    cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve({ line: out.trim(), end: () => (child.stdin.end(), exited) });
    });
    child.once('exit', (code) => reject(new Error(`claimer exited ${code}: ${out}`)));
  });
}

test('processes claiming ports at once never share one, and their claims go when they exit', async (t) => {
  const tmp = await tempDir(t);
  const claimers = await Promise.all([1, 2, 3, 4].map(() => claimer(tmp, ['40'])));
  const ports = claimers.flatMap((c) => c.line.replace('ports ', '').split(' ').map(Number));
  t.is(ports.length, 160);
  t.is(new Set(ports).size, 160, 'a port handed to two processes');
  t.true(ports.every((p) => p >= 20_000 && p < ephemeralLow()), 'below the ephemeral range');
  t.is(readdirSync(join(tmp, 'seqdb-test-ports-2')).length, 160);
  await Promise.all(claimers.map((c) => c.end()));
  t.deepEqual(readdirSync(join(tmp, 'seqdb-test-ports-2')), []);
});

/** A claimer's line; the claimer is ended at once. */
async function claimOnce(tmp: string, ports: readonly string[]): Promise<string> {
  const c = await claimer(tmp, ['claim', ...ports]);
  await c.end();
  return c.line;
}

test('a claim is held by a live claimer; one of a dead or reused pid is cleared, not taken', async (t) => {
  const tmp = await tempDir(t);
  const dir = join(tmp, 'seqdb-test-ports-2');
  mkdirSync(dir);
  const live = await claimer(tmp, ['claim', '21000']);
  t.is(live.line, 'claimed true');
  t.teardown(() => live.end());
  t.is(await claimOnce(tmp, ['21000']), 'claimed false');
  t.regex(readFileSync(join(dir, '21000'), 'utf8'), /^\d+ \d+$/); // pid and start time

  // Our own pid with another start time: the pid was reused by a new process.
  writeFileSync(join(dir, '21001'), `${process.pid} 1`);
  writeFileSync(join(dir, '21002'), '4194304 5'); // above pid_max: dead
  for (const port of ['21001', '21002']) {
    t.is(await claimOnce(tmp, [port]), 'claimed false', `stale claim ${port} taken over`);
    t.false(readdirSync(dir).includes(port), `stale claim ${port} left`);
    t.is(await claimOnce(tmp, [port]), 'claimed true');
  }
});

test('a stale claim is removed only under its lock: a fresh lock leaves it, a lock older than 10 s is cleared first', async (t) => {
  const tmp = await tempDir(t);
  const dir = join(tmp, 'seqdb-test-ports-2');
  mkdirSync(dir);
  writeFileSync(join(dir, '21003'), '4194304 5'); // dead holder
  writeFileSync(join(dir, '21003.lock'), ''); // another process judging it right now
  t.is(await claimOnce(tmp, ['21003']), 'claimed false');
  t.true(readdirSync(dir).includes('21003'), 'removed while another process held its lock');
  t.true(readdirSync(dir).includes('21003.lock'), 'a fresh lock is not taken away');

  const old = new Date(Date.now() - 60_000);
  utimesSync(join(dir, '21003.lock'), old, old); // its holder was killed holding it
  t.is(await claimOnce(tmp, ['21003']), 'claimed false');
  t.false(readdirSync(dir).includes('21003.lock'), 'an abandoned lock is cleared');
  t.is(await claimOnce(tmp, ['21003']), 'claimed false', 'the stale claim is removed under a lock of its own');
  t.deepEqual(readdirSync(dir).filter((f) => f.startsWith('21003')), []);
  t.is(await claimOnce(tmp, ['21003']), 'claimed true');
});
