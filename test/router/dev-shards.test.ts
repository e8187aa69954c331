/**
 * `seqdb dev --shards 2 --nodes 3` as a user runs it: a router on --port in front of two shards
 * of three node processes. Buckets end up spread over both shards; SIGTERM stops everything.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RespClient, intOf } from '../helpers/resp-client.ts';
import { freePortRange } from '../helpers/port-range.ts';
import { exitWithParent } from '../helpers/exit-with-parent.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function accepting(p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(p, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

test('seqdb dev --shards 2 --nodes 3 spreads buckets over both shards and stops cleanly', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-dev-shards-'));
  const port = await freePortRange(6, true);
  const child = spawn(process.execPath, ['bin/seqdb.js', 'dev', '--shards', '2', '--nodes', '3', '--port', String(port), '--data', dir],
    exitWithParent('dev', { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  const deadline = Date.now() + 40_000;
  let info = '';
  while (Date.now() < deadline) {
    try {
      const c = await RespClient.connect(port);
      info = await c.call('INFO');
      c.close();
      if (/shards:2/.test(info) && /shard_1:leader=[^?]/.test(info) && /catalog_epoch:1/.test(info)) break;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  t.regex(info, /shards:2/, output);
  const slots = [...info.matchAll(/slots=(\d+)/g)].map((m) => Number(m[1]));
  t.is(slots.length, 2);
  t.true(slots.every((n) => n > 0), `slots per shard: ${slots.join(', ')}`);
  t.is(slots[0]! + slots[1]!, 16384);
  t.regex(info, /shard_2:leader=[^,]+,members=127\.0\.0\.1:\d+\|127\.0\.0\.1:\d+\|127\.0\.0\.1:\d+,/);

  const c = await RespClient.connect(port);
  for (let b = 0; b < 64; b++) t.is(intOf(await c.call('INC', `dev${b}`, 's')), 1n);
  c.close();

  child.kill('SIGTERM');
  t.is(await exited, 0, output);
  for (let p = port; p <= port + 6; p++) t.false(await accepting(p), `port ${p} still open after exit`);
});
