/**
 * A standalone replicated shard named '1' (`seqdb node --shard 1 --join ...` without --catalog:
 * README "Storage nodes") is not a catalog: its leader must not watch for abandoned slot moves.
 * It did: CLUSTER MOVE answers -CLUSTERDOWN there, retried as transient every 100 ms, each attempt
 * a Raft log entry, so an idle standalone shard appended ~8 entries a second forever (a review).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callOnce } from '../helpers/resp-client.ts';
import { freePortRange } from '../helpers/port-range.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function lastIndex(port: number): Promise<number | null> {
  const info = (await callOnce(port, ['INFO'], 3000)) ?? '';
  const m = /last_index:(\d+)/.exec(info);
  return /role:leader/.test(info) && m ? Number(m[1]) : null;
}

test('an idle standalone shard 1 does not grow its log', async (t) => {
  t.timeout(90_000);
  const dir = await mkdtemp(join(tmpdir(), 'standalone-one-'));
  const port = await freePortRange(1);
  const child = spawn(process.execPath, ['bin/seqdb.js', 'node', '--shard', '1', '--host', '127.0.0.1', '--port', String(port), '--data', dir,
    '--join', `127.0.0.1:${port}`, '--bootstrap-expect', '1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  t.teardown(async () => {
    child.kill('SIGKILL');
    await sleep(300);
    await rm(dir, { recursive: true, force: true });
  });
  let first: number | null = null;
  for (const deadline = Date.now() + 30_000; first === null && Date.now() < deadline; await sleep(300)) first = await lastIndex(port);
  t.not(first, null, out.slice(-1000));
  await sleep(6_000);
  const second = await lastIndex(port);
  t.log(`last_index ${first} -> ${second} in 6 s with no client`);
  t.true(second !== null && second - first! <= 3, `the idle standalone shard appended ${second! - first!} log entries in 6 s`);
});
