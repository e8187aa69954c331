/**
 * A review found: the budget of client data a low follower still takes (1/64 of the reserve
 * "per low spell", raft-node.ts dropsForDisk) is 0 for a node that starts with its disk already
 * low (it is only set by an append that arrives while the disk is not low). Such a follower takes
 * no entry with client data at all; when the other follower also runs low and the leader dies,
 * the new leader's log is ahead of it by a few small entries it cannot pass on, cannot commit its
 * term's entry, and reads stop (the case the budget is there for: disk-low.test.ts reads "on a
 * new leader").
 * A node is made "low" without a tmpfs by a reserve larger than the host disk, so that a restart
 * keeps its data.
 */
import test from 'ava';
import { Cluster, command, sleep } from '../replication/helpers/cluster.ts';

const HUGE = '1000000'; // MiB: more than this host's free space, so the node is low

async function restartLow(c: Cluster, i: number): Promise<void> {
  const child = c.nodes[i]!.child!;
  const exited = new Promise((r) => child.once('exit', r));
  c.kill(i, 'SIGKILL');
  await exited;
  c.spawn(i, ['--disk-reserve-mb', HUGE]);
  for (const until = Date.now() + 15_000; Date.now() < until; await sleep(200)) {
    const info = await c.info(i);
    if (info?.disk_low === '1' && info.role === 'follower') return;
  }
  throw new Error(`node ${i} not a low follower\n${c.dump()}`);
}

test('a follower that starts on a low disk still gets its budget: a new leader ahead of it by a few entries can commit its term, reads go on', async (t) => {
  t.timeout(120_000);
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--disk-reserve-mb', '8'] });
  const a = await c.waitForLeader(3);
  const [b, cc] = [0, 1, 2].filter((i) => i !== a) as [number, number];
  const A = c.nodes[a]!.port;
  t.is((await command(A, ['INC', 'b', 's'], 5000)).trim(), ':1');
  await restartLow(c, cc);
  await sleep(1500); // its low word reaches the leader
  let n = 1;
  for (let i = 0; i < 20; i++) {
    const r = (await command(A, ['INC', 'b', 's'], 5000)).trim();
    t.is(r, `:${++n}`);
  }
  await restartLow(c, b);
  await sleep(1500);
  t.regex((await command(A, ['INC', 'b', 's'], 5000)).trim(), /^-NOSPACE /);
  const ci = await c.info(cc);
  t.log(`low follower ${cc}: last_index ${ci?.last_index}, dropped ${ci?.disk_dropped_messages}; leader last_index ${(await c.info(a))?.last_index}`);
  c.kill(a, 'SIGKILL');
  const next = await c.waitForLeader(3, 15_000, [b, cc]);
  let read = '';
  for (const until = Date.now() + 10_000; Date.now() < until && read !== `:${n}`; await sleep(200)) {
    try {
      read = (await command(c.nodes[next]!.port, ['GET', 'b', 's'], 3000)).trim();
    } catch (err) {
      read = String(err);
    }
  }
  t.log(`new leader ${next}: ${JSON.stringify(await c.info(next))}`.slice(0, 600));
  t.is(read, `:${n}`, 'reads on the new leader');
});
