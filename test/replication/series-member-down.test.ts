/**
 * Series commands wait (TRYAGAIN) until every member is known to apply them (raft-engine.ts).
 * What members said is kept in the data dir (peer-features.ts `known`): a 3-node shard that lost
 * one node keeps a quorum, and once the two others restarted (a rolling restart) no leader hears
 * the dead one. Kept in memory only, RESERVE / CONFIRM / VOID / AUDIT / SEQ.* were refused until
 * it came back, while INC kept working (a review).
 */
import test from 'ava';
import { Cluster, command, sleep } from './helpers/cluster.ts';

test('one of three nodes down, the two others restarted: RESERVE is still served', async (t) => {
  t.timeout(120_000);
  const c = await Cluster.start(t, { size: 3 });
  const first = await c.waitForLeader(3);
  const port0 = c.nodes[first]!.port;
  // Every node has heard every member say its features (INFO incs:on), and kept it (saved each second).
  await c.waitFeatures();
  await sleep(1500);
  t.regex((await command(port0, ['RESERVE', 'b', 's', 'TTL', '60'])).trim(), /^:1$/, 'served while all three are up');
  const down = c.nodes.find((n) => n.index !== first)!.index;
  c.kill(down, 'SIGKILL');
  const survivors = c.nodes.filter((n) => n.index !== down).map((n) => n.index);
  for (const i of survivors) {
    c.kill(i, 'SIGKILL');
    await sleep(300);
    c.spawn(i);
    await c.waitForLeader(3, 30_000, survivors);
    await sleep(2000);
  }
  const leader = await c.waitForLeader(3, 30_000, survivors);
  t.is((await command(c.nodes[leader]!.port, ['INC', 'b', 'x'])).trim(), ':1', 'the shard has a quorum and serves INC');
  await sleep(3000); // members are asked every 2 s while unknown
  t.is((await command(c.nodes[leader]!.port, ['RESERVE', 'b', 's', 'TTL', '60'])).trim(), ':2');
});
