/**
 * A `seqdb rebalance` / `shard remove` killed after FREEZE left its batch of slots (up to
 * --batch-slots, 1024 by default = 1/16 of the keyspace) refusing every INC, SET and GET until
 * someone ran the command again: 31-101 s with no INC served on those buckets in chaos runs whose
 * shards all had leaders (a chaos review, seeds 101 and 707). The catalog shard's leader now takes
 * over a move whose record has not changed for --move-idle-ms (node/rebalance/abandoned-move.ts).
 * A coordinator that was only slow, raced by the take-over, must still finish its run (a review:
 * it died with "can neither finish nor abort").
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callOnce } from '../helpers/resp-client.ts';
import { freePortRange } from '../helpers/port-range.ts';
import { rebalance } from '../../node/rebalance/rebalance.ts';
import { ClusterSecret } from '../../shared/security/cluster-proof.ts';
import { exitWithParent } from '../helpers/exit-with-parent.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const BUCKETS = Array.from({ length: 32 }, (_, i) => `k${i}`);

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/seqdb.js', ...args], exitWithParent(args[0], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

/** `seqdb dev --shards 2 --nodes <nodes> --move-idle-ms <idleMs>`, formed, with one INC taken on every bucket. */
async function devWithNumbers(t: ExecutionContext, idleMs = 3000, nodes = 1): Promise<{ port: number; secret: string; before: Map<string, number>; takeOver: () => string[] }> {
  t.timeout(180_000);
  const dir = await mkdtemp(join(tmpdir(), 'abandoned-move-'));
  const port = await freePortRange(2 + 2 * nodes, true);
  const dev = spawn(process.execPath, ['bin/seqdb.js', 'dev', '--shards', '2', '--nodes', String(nodes), '--port', String(port), '--data', dir, '--move-idle-ms', String(idleMs)], exitWithParent('dev', { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
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
    info = (await callOnce(port, ['INFO'], 2000)) ?? '';
    if (/shards:2/.test(info) && /catalog_epoch:1/.test(info)) break;
  }
  if (!/catalog_epoch:1/.test(info)) throw new Error(`the cluster did not form:\n${devOut.slice(-1500)}`);
  const before = new Map<string, number>();
  for (const b of BUCKETS) {
    for (let i = 0; i < 50 && !before.has(b); i++) {
      const reply = ((await callOnce(port, ['INC', b, 's'], 3000)) ?? '').trim();
      if (/^:/.test(reply)) before.set(b, Number(reply.slice(1)));
      else await sleep(200);
    }
  }
  const secret = (await readFile(join(dir, 'cluster-secret'), 'utf8')).trim();
  return { port, secret, before, takeOver: () => devOut.split('\n').filter((l) => /taking over|was finished|rolled back|abandoned|settled by another/.test(l)) };
}

/** `seqdb shard remove 2` in this process, pausing `pauseMs` right after FREEZE (slow, not dead). */
async function slowRebalance(port: number, secret: string, pauseMs: number): Promise<{ error: string | null; logs: string[]; paused: boolean }> {
  const logs: string[] = [];
  let paused = false;
  try {
    await rebalance({
      router: `127.0.0.1:${port}`,
      remove: '2',
      batchSlotsMax: 16384,
      dial: { clusterSecret: new ClusterSecret(secret) },
      log: (l) => logs.push(l),
      afterStep: async (step) => {
        if (step === 'freeze' && !paused) {
          paused = true;
          await sleep(pauseMs);
        }
      },
    });
    return { error: null, logs, paused };
  } catch (err) {
    return { error: (err as Error).message, logs, paused };
  }
}

/** Buckets whose next INC is not the number after the one they had. */
async function notContinuing(port: number, before: Map<string, number>): Promise<string[]> {
  const stuck: string[] = [];
  for (const b of BUCKETS) {
    const reply = ((await callOnce(port, ['INC', b, 's'], 7_000)) ?? 'no reply').trim();
    if (reply !== `:${before.get(b)! + 1}`) stuck.push(`${b}: ${reply.slice(0, 90)}`);
  }
  return stuck;
}

test('an abandoned move (coordinator killed after FREEZE) is finished by the catalog leader: every bucket served again, numbers continue', async (t) => {
  const { port, secret, before, takeOver } = await devWithNumbers(t);
  // Drain shard 2 in one batch; the coordinator dies right after FREEZE (as kill -9 would).
  const r = await run(['shard', 'remove', '--router', `127.0.0.1:${port}`, '--shard', '2', '--batch-slots', '16384'],
    { SEQDB_CLUSTER_SECRET: secret, SEQDB_TEST_REBALANCE_EXIT_AFTER: 'freeze' });
  t.is(r.code, 9, r.out);
  // --move-idle-ms 3000 and a check every 2 s: taken over within ~5 s, then the copy and the release.
  await sleep(12_000);
  const stuck = await notContinuing(port, before);
  t.deepEqual(stuck, [], `${stuck.length} of ${BUCKETS.length} buckets do not answer their next number 12 s after the coordinator died\n${takeOver().join('\n')}`);
});

test('a slow but live coordinator raced by the take-over finishes its run', async (t) => {
  const { port, secret, before, takeOver } = await devWithNumbers(t);
  // Slow, not dead: 10 s after FREEZE (more than --move-idle-ms 3000 and a 2 s check period).
  const { error, logs } = await slowRebalance(port, secret, 10_000);
  t.true(takeOver().some((l) => /taking over/.test(l)), 'the take-over ran');
  t.is(error, null, `the live coordinator failed: ${error}\n${logs.join('\n')}\n${takeOver().join('\n')}`);
  t.deepEqual(await notContinuing(port, before), [], 'numbers continue');
});

// Heartbeats (abandoned-move.ts): with the idle rule alone, a killed coordinator froze its batch
// for --move-idle-ms (30 s by default) however soon it died.
test('a coordinator killed after FREEZE is taken over once its heartbeats stop (~6 s), long before --move-idle-ms', async (t) => {
  const { port, secret, before, takeOver } = await devWithNumbers(t, 120_000);
  const r = await run(['shard', 'remove', '--router', `127.0.0.1:${port}`, '--shard', '2', '--batch-slots', '16384'],
    { SEQDB_CLUSTER_SECRET: secret, SEQDB_TEST_REBALANCE_EXIT_AFTER: 'freeze' });
  t.is(r.code, 9, r.out);
  for (const deadline = Date.now() + 60_000; Date.now() < deadline && !takeOver().some((l) => /was finished|rolled back/.test(l)); ) await sleep(500);
  const lines = takeOver();
  t.true(lines.some((l) => /taking over .*heartbeats stopped/.test(l)), `taken over for its silence, not after 120 s idle:\n${lines.join('\n')}`);
  t.deepEqual(await notContinuing(port, before), [], 'numbers continue');
});

// Heartbeats reach every catalog member (mover.ts): a leader elected after the coordinator died
// heard it as a follower. When they reached the leader alone, a new leader had heard nothing and
// waited the whole --move-idle-ms.
test('the coordinator and then the catalog leader killed: the new catalog leader takes over for the silence, long before --move-idle-ms', async (t) => {
  const { port, secret, before, takeOver } = await devWithNumbers(t, 120_000, 3);
  const r = await run(['shard', 'remove', '--router', `127.0.0.1:${port}`, '--shard', '2', '--batch-slots', '16384'],
    { SEQDB_CLUSTER_SECRET: secret, SEQDB_TEST_REBALANCE_EXIT_AFTER: 'freeze' });
  t.is(r.code, 9, r.out);
  // The catalog shard is shard 1: the dev cluster's first three node ports.
  const infos = await Promise.all([1, 2, 3].map(async (i) => (await callOnce(port + i, ['INFO'], 2000)) ?? ''));
  const leader = infos.find((info) => /role:leader/.test(info));
  const pid = Number(/process_id:(\d+)/.exec(leader ?? '')?.[1]);
  t.true(Number.isInteger(pid) && pid > 0, `the catalog leader's pid: ${infos.join('\n---\n')}`);
  process.kill(pid, 'SIGKILL');
  const startedMs = Date.now();
  for (const deadline = Date.now() + 60_000; Date.now() < deadline && !takeOver().some((l) => /was finished|rolled back/.test(l)); ) await sleep(500);
  const lines = takeOver();
  t.log(`settled ${Math.round((Date.now() - startedMs) / 1000)} s after the catalog leader was killed`);
  t.true(lines.some((l) => /taking over .*heartbeats stopped/.test(l)), `taken over for its silence, not after 120 s idle:\n${lines.join('\n')}`);
  t.deepEqual(await notContinuing(port, before), [], 'numbers continue');
});

test('a slow coordinator whose heartbeats go on is not taken over for its silence', async (t) => {
  const { port, secret, before, takeOver } = await devWithNumbers(t, 120_000);
  // 12 s still after FREEZE: twice the silence that starts a take-over, heartbeats going on.
  const { error, logs, paused } = await slowRebalance(port, secret, 12_000);
  t.true(paused, 'the coordinator paused after FREEZE');
  t.is(error, null, logs.join('\n'));
  t.deepEqual(takeOver().filter((l) => /taking over/.test(l)), [], logs.join('\n'));
  t.deepEqual(await notContinuing(port, before), [], 'numbers continue');
});
