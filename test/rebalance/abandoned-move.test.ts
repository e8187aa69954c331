/**
 * A `seqdb rebalance` / `shard remove` killed after FREEZE left its batch of slots (up to
 * --batch-slots, 1024 by default = 1/16 of the keyspace) refusing every INC, SET and GET until
 * someone ran the command again: 31-101 s with no INC served on those buckets in chaos runs whose
 * shards all had leaders (a chaos review, seeds 101 and 707). The catalog shard's leader now takes
 * over a move whose record has not changed for --move-idle-ms (node/rebalance/abandoned-move.ts).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callOnce } from '../helpers/resp-client.ts';
import { freePortRange } from '../helpers/port-range.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const call = callOnce;

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/seqdb.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

test('an abandoned move (coordinator killed after FREEZE) is finished by the catalog leader: every bucket served again, numbers continue', async (t) => {
  t.timeout(180_000);
  const dir = await mkdtemp(join(tmpdir(), 'chaos-frozen-'));
  const port = await freePortRange(4);
  const dev = spawn(process.execPath, ['bin/seqdb.js', 'dev', '--shards', '2', '--nodes', '1', '--port', String(port), '--data', dir, '--move-idle-ms', '3000'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let devOut = '';
  dev.stdout!.on('data', (d: Buffer) => (devOut += d.toString()));
  dev.stderr!.on('data', (d: Buffer) => (devOut += d.toString()));
  t.teardown(async () => {
    dev.kill('SIGKILL');
    await sleep(300);
    await rm(dir, { recursive: true, force: true });
  });
  let info = '';
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(300)) {
    info = (await call(port, ['INFO'], 2000)) ?? '';
    if (/shards:2/.test(info) && /catalog_epoch:1/.test(info)) break;
  }
  t.regex(info, /catalog_epoch:1/, devOut.slice(-1500));
  const buckets = Array.from({ length: 32 }, (_, i) => `k${i}`);
  const before = new Map<string, string>();
  for (const b of buckets) {
    for (let i = 0; i < 50 && !before.has(b); i++) {
      const reply = ((await call(port, ['INC', b, 's'], 3000)) ?? '').trim();
      if (/^:/.test(reply)) before.set(b, reply);
      else await sleep(200);
    }
  }
  const secret = (await readFile(join(dir, 'cluster-secret'), 'utf8')).trim();
  // Drain shard 2 in one batch; the coordinator dies right after FREEZE (as kill -9 would).
  const r = await run(['shard', 'remove', '--router', `127.0.0.1:${port}`, '--shard', '2', '--batch-slots', '16384'],
    { SEQDB_CLUSTER_SECRET: secret, SEQDB_TEST_REBALANCE_EXIT_AFTER: 'freeze' });
  t.log(`coordinator exit ${r.code}: ${r.out.split('\n').slice(-3).join(' | ')}`);
  // --move-idle-ms 3000 and a check every 2 s: taken over within ~5 s, then the copy and the release.
  await sleep(12_000);
  const stuck: string[] = [];
  for (const b of buckets) {
    const reply = (await call(port, ['INC', b, 's'], 7_000)) ?? 'no reply';
    if (reply.trim() !== `:${Number(before.get(b)!.slice(1)) + 1}`) stuck.push(`${b}: ${reply.trim().slice(0, 90)}`);
  }
  t.deepEqual(stuck, [], `${stuck.length} of ${buckets.length} buckets do not answer their next number 12 s after the coordinator died\n${devOut.split('\n').filter((l) => /taking over|was finished|rolled back|abandoned/.test(l)).join('\n')}`);
});
