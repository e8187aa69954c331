/**
 * One node of a 3-node shard runs low on disk (its data dir is a small tmpfs of its own, filled
 * by the test): as leader it hands its leadership over, as follower it takes no log entries, and
 * the shard goes on with the other two; no client is refused, no process dies (a replica writing
 * its state through LMDB's memory map onto a full disk was killed by SIGBUS), and once space is
 * freed the node catches up. Every INC's number stays unique and gapless. Needs root (mount
 * namespaces), as CI has; skips without it.
 */
import test from 'ava';
import { Cluster, RetryingIncClient, checkIncHistory, command, sleep, type IncOp } from './helpers/cluster.ts';
import { canMountTmpfs, fillLeaving, freeBytes, removeFiller } from '../helpers/tmpfs.ts';

const MiB = 1024 * 1024;

(canMountTmpfs() ? test : test.skip)('a node under its disk reserve hands over, stops taking entries, and catches up once space is freed', async (t) => {
  t.timeout(120_000);
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--disk-reserve-mb', '8'], tmpfsOf: (i) => (i === 0 ? '64m' : undefined) });
  let leader = await c.waitForLeader(3);
  const low = c.nodes[0]!;
  const lowId = (await c.info(0))!.node_id!;
  // Node 0 leads first, so that the hand-over is what the test sees first.
  if (leader !== 0) t.is((await command(c.nodes[leader]!.port, ['SEQDB.TRANSFER', lowId], 5000)).trim(), '+OK');
  leader = await c.waitForLeader(3);
  t.is(leader, 0);

  const ops: IncOp[] = [];
  const clients = Array.from({ length: 4 }, (_, i) => new RetryingIncClient(i, c.nodes.map((n) => n.port)));
  const stopAtMs = Date.now() + 9000;
  const load = Promise.all(clients.map(async (cl) => {
    for (let op = 0; op < 100_000 && Date.now() < stopAtMs; op++) ops.push(await cl.inc('b', 'disk', op, stopAtMs + 15_000));
    cl.close();
  }));
  await sleep(1000);
  // About 4 MiB left: under the 8 MiB reserve, and filled within seconds by this load were
  // the node still taking entries.
  const pid = low.child!.pid!;
  const filler = fillLeaving(pid, low.dataDir, 4 * MiB);
  let info = await c.info(0);
  for (const until = Date.now() + 5000; Date.now() < until && !(info?.disk_low === '1' && info.role === 'follower'); await sleep(100)) info = await c.info(0);
  t.is(info?.disk_low, '1', c.dump());
  t.is(info?.role, 'follower', 'leadership left the node whose disk is low');
  t.regex(low.output, /handing leadership to/);
  // Low: its log stays where it was while the shard's commit index moves on.
  const lastWhenLow = Number(info!.last_index);
  await sleep(3000);
  info = await c.info(0);
  const other = await c.waitForLeader(3, 5000, [1, 2]);
  const commit = Number((await c.info(other))!.commit_index);
  t.true(Number(info!.last_index) <= lastWhenLow + 1, `log of the low node ${lastWhenLow} -> ${info!.last_index}`);
  t.true(commit > lastWhenLow + 10, `the shard went on: commit ${commit}`);
  t.true(Number(info!.disk_dropped_messages) > 0);
  t.true(freeBytes(pid, low.dataDir) > 2 * MiB, 'the node stopped writing, the disk did not fill');
  // Space freed: it takes entries again and catches up.
  removeFiller(filler);
  await load;
  const finalCommit = Number((await c.info(other))!.commit_index);
  info = await c.waitApplied(0, finalCommit, 20_000);
  t.is(info.disk_low, '0');
  t.true(c.nodes.every((n) => n.child !== null), 'no node died');

  const failed = ops.filter((o) => o.value === null);
  t.is(failed.length, 0, `ops that never got a number: ${failed.map((o) => o.token).join(' ')}`);
  t.deepEqual(checkIncHistory(ops), []);
  const refused = clients.flatMap((cl) => cl.errors).filter((e) => e.includes('NOSPACE'));
  t.deepEqual(refused, [], 'with two healthy nodes, no write is refused for space');
  t.is((await command(c.nodes[other]!.port, ['GET', 'b', 'disk'])).trim(), `:${ops.length}`);
});
