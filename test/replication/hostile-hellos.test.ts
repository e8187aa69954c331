import test from 'ava';
import { connect } from 'node:net';
import { LmdbRaftStorage } from '../../node/replication/lmdb-raft-storage.ts';
import type { MembersImage } from '../../node/replication/members.ts';
import { Cluster, command, sleep } from './helpers/cluster.ts';

/** One connection that says a peer hello (cluster and shard right, as mDNS announces them). */
function hello(port: number, id: string): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(`SEQDB-PEER 1 seqdb s1 ${id} 127.0.0.1:9\n`, () => setTimeout(() => s.destroy(), 20)));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

test('hellos under ever new ids (no cluster secret) leave the persisted member records alone; the shard serves', async (t) => {
  t.timeout(90_000);
  const c = await Cluster.start(t, { size: 3 });
  const leader = await c.waitForLeader(3);
  const ids = new Set<string>();
  for (const n of c.nodes) ids.add((await c.infoSoon(n.index)).node_id!);
  const target = c.nodes.find((n) => n.index !== leader)!;
  for (let at = 0; at < 600; at += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, i) => hello(target.port, `stranger-${at + i}`)));
  }
  // Records are saved at most once a second after a change: give a change time to be saved.
  await sleep(2500);
  t.is((await command(c.nodes[leader]!.port, ['INC', 'b', 's'], 5000)).trim(), ':1');
  t.is((await c.infoSoon(target.index)).role, 'follower');

  c.kill(target.index, 'SIGTERM');
  for (const deadline = Date.now() + 15_000; target.child !== null && Date.now() < deadline;) await sleep(100);
  t.is(target.child, null, 'the node stopped');
  const storage = LmdbRaftStorage.open({ dir: target.dataDir, shard: 's1', cluster: 'seqdb' });
  const saved = storage.getMeta<MembersImage>('members');
  await storage.close();
  t.truthy(saved, 'the records exist');
  t.deepEqual(Object.keys(saved!.members).filter((id) => !ids.has(id)), [], 'only members are recorded');

  c.spawn(target.index);
  await c.waitApplied(target.index, Number((await c.infoSoon(leader)).applied_index));
  t.is((await command(c.nodes[leader]!.port, ['INC', 'b', 's'], 5000)).trim(), ':2');
});
