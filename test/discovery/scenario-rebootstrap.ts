/**
 * Inside a private network namespace (lo only), cluster "a", shard 1 formed by mDNS alone:
 * node A started with --bootstrap-expect 1, then B and C (no --bootstrap-expect) join it through
 * discovery. A's data dir is lost; A is restarted with the command line that formed the shard.
 * It must join the existing group (node/replication/cluster-join.ts): it did so for --join lists,
 * but with discovery it decided before mDNS found its peers and founded a second shard 1 that
 * handed out numbers again (found by a discovery review).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { assertIsolatedNamespace, printResult } from '../helpers/netns.ts';
import { call, closePool, info, respawn, runMain, scenarioDir, showReply, sleep, start, stopProc, waitUntil } from '../router/scenario-util.ts';

const HOST = '127.0.0.1';
const addr = (i: number): string => `${HOST}:${7111 + i}`;

runMain(async () => {
  assertIsolatedNamespace();
  const dir = scenarioDir('seqdb-discovery-');
  const args = (i: number, extra: string[]): string[] => ['node', '--cluster', 'a', '--shard', '1', '--host', HOST, '--port', String(7111 + i), '--data', join(dir, `n${i}`), ...extra];
  const a = start('A', args(0, ['--bootstrap-expect', '1']));
  await waitUntil('A to lead', async () => (await info(addr(0))).role === 'leader', 30_000);
  start('B', args(1, []));
  start('C', args(2, []));
  await waitUntil('B and C to follow A', async () =>
    (await info(addr(1))).role === 'follower' && (await info(addr(2))).role === 'follower', 40_000);
  await waitUntil('the shard to own its slots', async () => (await call(addr(0), ['GET', 'x', 's'], 2000))?.kind === 'null', 30_000);
  const before: string[] = [];
  for (let i = 0; i < 3; i++) before.push(showReply(await call(addr(0), ['INC', 'x', 's'], 5000)));
  await sleep(500);
  const infoBefore = await info(addr(0));
  // A loses its data dir and is restarted with the same command line.
  await stopProc(a, 'SIGKILL');
  rmSync(join(dir, 'n0'), { recursive: true, force: true });
  respawn(a);
  await waitUntil('A to answer', async () => (await info(addr(0))).role !== undefined, 30_000);
  await sleep(4000);
  const roles = await Promise.all([0, 1, 2].map(async (i) => (await info(addr(i))).role ?? 'down'));
  const after: Record<string, string> = {};
  for (let i = 0; i < 3; i++) after[addr(i)] = showReply(await call(addr(i), ['INC', 'x', 's'], 5000));
  closePool();
  printResult({ before, roles, after, infoBefore, aLog: a.output.slice(-1500) });
});
