/**
 * CLUSTER EXPORTPAGE on a replicated shard is a read on its leader (node/replication/
 * export-page-read.ts), not a log entry: a page cost a Raft round and every follower a scan.
 * Here on a 3-node shard of real processes: the leader answers it with no entry appended, a
 * follower redirects it like any read, and what the leader answers is what applying it gives.
 */
import test from 'ava';
import { Cluster, command } from '../replication/helpers/cluster.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';

test('EXPORTPAGE is served by the leader without a log entry; a follower answers NOTLEADER', async (t) => {
  const c = await Cluster.start(t, { size: 3 });
  const leader = await c.waitForLeader(3);
  const follower = c.nodes.find((n) => n.index !== leader)!.index;
  for (let i = 0; i < 5; i++) t.regex(await command(c.nodes[leader]!.port, ['INC', 'b', `s${i}`], 5000), /^:1/);
  const slots = SlotSet.of([1, 2, 3]).toBase64();
  const lastIndex = async (): Promise<number> => Number((await c.infoSoon(leader)).last_index);
  const before = await lastIndex();
  const replies: string[] = [];
  for (let i = 0; i < 5; i++) replies.push((await command(c.nodes[leader]!.port, ['CLUSTER', 'EXPORTPAGE', '7', slots, '-'], 5000)).trim());
  // A standalone shard has no move: the refusal applying it gave, now from a read.
  for (const r of replies) t.regex(r, /^-CLUSTERDOWN this node is not part of a sharded cluster/, r);
  t.is(await lastIndex(), before, 'EXPORTPAGE appended log entries');
  t.regex((await command(c.nodes[follower]!.port, ['CLUSTER', 'EXPORTPAGE', '7', slots, '-'], 5000)).trim(), /^-NOTLEADER /);
});
