import test from 'ava';
import { spawnSync } from 'node:child_process';
import { Cluster, RetryingIncClient, command, sleep } from './helpers/cluster.ts';

test('a follower that missed a compacted part of the log catches up by InstallSnapshot', async (t) => {
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--snapshot-entries', '100'] });
  const leader = await c.waitForLeader(3);
  const follower = c.nodes.find((n) => n.index !== leader)!;
  c.kill(follower.index, 'SIGKILL');
  await sleep(200);

  // Enough writes to take several snapshots and compact past anything the follower has. The
  // leader keeps --snapshot-entries entries below its snapshot (snapshot-image.ts), so it takes
  // rounds of writes until its log begins past the follower (bounded).
  const ports = c.nodes.map((n) => n.port);
  const clients = Array.from({ length: 4 }, (_, i) => new RetryingIncClient(i, ports));
  let acked = 0;
  let sent = 0;
  let leaderInfo = (await c.info(leader))!;
  for (let round = 0; round < 8 && Number(leaderInfo.first_index) <= 100; round++) {
    await Promise.all(
      clients.map(async (cl) => {
        for (let op = 0; op < 150; op++) if ((await cl.inc('b', 'snap', sent + op, Date.now() + 10_000)).value !== null) acked++;
      }),
    );
    sent += 150;
    leaderInfo = (await c.info(leader))!;
  }
  for (const cl of clients) cl.close();
  t.is(acked, sent * 4);
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
  t.is((await command(follower.port, ['INC', 'b', 'snap'])).trim(), `:${acked + 1}`);
});

test('a follower that lags by less than a snapshot interval catches up from the log, without an image', async (t) => {
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--snapshot-entries', '100'] });
  const leader = await c.waitForLeader(3);
  const follower = c.nodes.find((n) => n.index !== leader)!;
  const client = new RetryingIncClient(0, c.nodes.filter((n) => n !== follower).map((n) => n.port));
  const snapshots = (): number[] => [...c.nodes[leader]!.output.matchAll(/snapshot at index (\d+) term \d+ \(\d+ bytes\); log compacted/g)].map((m) => Number(m[1]));
  let op = 0;
  const incUntil = async (count: number): Promise<void> => {
    for (const opMax = op + 400; snapshots().length < count && op < opMax; op++) t.not((await client.inc('b', 'lag', op, Date.now() + 10_000)).value, null);
  };
  // The leader's first snapshot and 20 writes more; the follower has all of them, then goes down.
  await incUntil(1);
  for (const end = op + 20; op < end; op++) t.not((await client.inc('b', 'lag', op, Date.now() + 10_000)).value, null);
  await c.waitApplied(follower.index, Number((await c.info(leader))!.commit_index));
  const behind = Number((await c.info(follower.index))!.last_index);
  t.true(behind >= snapshots()[0]!, `follower at ${behind}, the leader's snapshot at ${snapshots()[0]}`);
  c.kill(follower.index, 'SIGKILL');
  while (follower.child !== null) await sleep(20);
  // One more snapshot on the leader, beyond the follower: it keeps --snapshot-entries (100)
  // entries of log below it, which reach back to the follower's.
  await incUntil(2);
  client.close();
  t.true(snapshots()[1]! > behind, `the leader's second snapshot at ${snapshots()[1]}, beyond the follower's ${behind}`);
  const leaderInfo = (await c.info(leader))!;
  t.true(Number(leaderInfo.first_index) <= behind + 1, `the leader's log begins at ${leaderInfo.first_index}, the follower needs ${behind + 1}`);

  const mark = follower.output.length;
  c.spawn(follower.index);
  await c.waitApplied(follower.index, Number(leaderInfo.commit_index));
  t.notRegex(follower.output.slice(mark), /installed snapshot at index/, 'caught up from the log');
  // Its state is the leader's: it leads and numbers on.
  const followerId = (await c.info(follower.index))!.node_id!;
  t.is((await command(c.nodes[leader]!.port, ['SEQDB.TRANSFER', followerId], 5000)).trim(), '+OK');
  for (const deadline = Date.now() + 5000; Date.now() < deadline && (await c.info(follower.index))?.role !== 'leader';) await sleep(50);
  t.is((await command(follower.port, ['INC', 'b', 'lag'], 5000)).trim(), `:${op + 1}`);
});
