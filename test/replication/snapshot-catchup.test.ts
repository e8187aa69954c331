import test from 'ava';
import { spawnSync } from 'node:child_process';
import { Cluster, RetryingIncClient, command, sleep } from './helpers/cluster.ts';

test('a follower that missed a compacted part of the log catches up by InstallSnapshot', async (t) => {
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--snapshot-entries', '100'] });
  const leader = await c.waitForLeader(3);
  const follower = c.nodes.find((n) => n.index !== leader)!;
  c.kill(follower.index, 'SIGKILL');
  await sleep(200);

  // Enough writes to take several snapshots and compact past anything the follower has.
  const ports = c.nodes.map((n) => n.port);
  const clients = Array.from({ length: 4 }, (_, i) => new RetryingIncClient(i, ports));
  let acked = 0;
  await Promise.all(
    clients.map(async (cl) => {
      for (let op = 0; op < 150; op++) if ((await cl.inc('b', 'snap', op, Date.now() + 10_000)).value !== null) acked++;
      cl.close();
    }),
  );
  t.is(acked, 600);
  const leaderInfo = (await c.info(leader))!;
  t.true(Number(leaderInfo.first_index) > 100, `leader compacted its log: first_index ${leaderInfo.first_index}`);

  c.spawn(follower.index);
  const info = await c.waitApplied(follower.index, Number(leaderInfo.commit_index));
  t.regex(c.nodes[follower.index]!.output, /installed snapshot at index \d+/);
  t.true(Number(info.first_index) > 100);

  // The restored follower serves correctly once it leads.
  const followerId = /node_id:(\S+)/.exec(await command(follower.port, ['INFO']))![1]!;
  const r = spawnSync(process.execPath, ['bin/seqdb.js', 'node', 'admin', 'transfer', followerId, '--addr', c.nodes[leader]!.addr, '--shard', 's1'], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr + r.stdout);
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && (await c.info(follower.index))?.role !== 'leader') await sleep(50);
  t.is((await c.info(follower.index))?.role, 'leader');
  t.is((await command(follower.port, ['INC', 'b', 'snap'])).trim(), ':601');
});
