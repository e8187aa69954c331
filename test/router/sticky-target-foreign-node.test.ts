// today3 review: ShardMap.target() is sticky since 61a4b93. A member address the catalog still
// lists for shard 2 (a dead member not yet removed from its Raft config) that a node of ANOTHER
// shard now holds answers MOVED "not owned by shard 3": judge() drops it from the members and the
// forwarder refreshes the catalog, which puts it back at the same position, under the unchanged
// cursor. No passOver on 'moved', so every attempt of every command goes to the foreign node until
// redirectsMax: -CLUSTERDOWN for the whole shard while its leader is up. (Before 61a4b93 target()
// rotated per call and reached the leader.) A router starts with no leader known, so this holds
// from its start whenever the foreign address comes first.
import test from 'ava';
import type { Command } from '../../node/state-machine/command.ts';
import { fakeNode, forwarderFor } from './fake-node.ts';

const inc = (token: string): Command => ({ type: 'inc', bucket: Buffer.from('b'), sequence: Buffer.from('s'), count: 1, token: Buffer.from(token) });
const show = (r: unknown): string => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? Number(v) : v));

test('a node of another shard on a listed member address does not make the shard unavailable', async (t) => {
  let next = 0;
  const foreign = await fakeNode((args) => (args[0] === 'INC' ? '-MOVED 1234 ? not owned by shard 3 (epoch 4)\r\n' : '+OK\r\n'));
  const leader = await fakeNode((args) => (args[0] === 'INC' ? `:${++next}\r\n` : '+OK\r\n'));
  const { forwarder } = await forwarderFor(t, [foreign, leader], { backoffMs: 20, deadlineMs: 3000 });
  const results = [];
  for (let i = 0; i < 3; i++) results.push(await forwarder.execute(inc(`t${i}`)));
  t.log(`foreign node asked ${foreign.seen.filter((a) => a[0] === 'INC').length} times, leader ${leader.seen.filter((a) => a[0] === 'INC').length} times; ${results.map(show).join(' ')}`);
  t.true(results.every((r) => r.type === 'int'), results.map(show).join(' '));
});
