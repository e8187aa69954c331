/**
 * Found by a discovery review. A router whose cached leader (or a NOTLEADER hint) names a node of ANOTHER shard of the same
 * cluster: what happens when a node of shard 3 restarts on an address the catalog still lists
 * for shard 2 (its dead member's address, reused). That node fences every command (MOVED), so
 * nothing wrong is served, but does the router ever go back to shard 2's real leader?
 */
import test from 'ava';
import type { Command } from '../../node/state-machine/command.ts';
import { fakeNode, forwarderFor, type FakeNode } from '../router/fake-node.ts';

const inc: Command = { type: 'inc', bucket: Buffer.from('b'), sequence: Buffer.from('s'), count: 1 };
const outcome = (r: Awaited<ReturnType<import('../../router/forwarder.ts').Forwarder['execute']>>): string =>
  r.type === 'int' ? String(r.value) : r.type === 'error' ? r.code : r.type;

test('a NOTLEADER naming another shard\'s leader does not pin the router to it', async (t) => {
  let c: FakeNode | undefined;
  // a: the address the catalog lists for shard 2, now a follower of shard 3.
  const a = await fakeNode(() => `-NOTLEADER 3 ${c!.address}\r\n`);
  // c: shard 3's leader; it owns nothing of shard 2 and fences.
  c = await fakeNode(() => '-MOVED 0 ? not owned by shard 3 (epoch 1)\r\n');
  t.teardown(() => c!.close());
  // b: shard 2's real leader.
  const b = await fakeNode(() => ':7\r\n');
  const { forwarder, map } = await forwarderFor(t, [a, b], { deadlineMs: 1500 });
  map.entry('2').leader = a.address;
  const results: string[] = [];
  for (let i = 0; i < 4; i++) results.push(outcome(await forwarder.execute(inc)));
  t.log(`results ${JSON.stringify(results)}; shard 2 leader now ${map.get('2')!.leader} (shard 3's leader is ${c.address}); INCs seen by the real leader: ${b.seen.filter((x) => x[0] === 'INC').length}, by shard 3's leader: ${c.seen.length}`);
  t.is(results.at(-1), '7', 'shard 2 is served again once the stale address is found out');
});

test('a cached leader address now held by another shard\'s leader (MOVED) is forgotten', async (t) => {
  // c: a node of shard 3 that took over the address of shard 2's dead leader.
  const c = await fakeNode(() => '-MOVED 0 ? not owned by shard 3 (epoch 1)\r\n');
  const b = await fakeNode(() => ':7\r\n');
  // The catalog (re-registered by shard 2's new leader) lists b, and still c (a dead voter's address).
  const { forwarder, map } = await forwarderFor(t, [c, b], { deadlineMs: 1500 });
  map.entry('2').leader = c.address;
  const results: string[] = [];
  for (let i = 0; i < 4; i++) results.push(outcome(await forwarder.execute(inc)));
  t.log(`results ${JSON.stringify(results)}; shard 2 leader now ${map.get('2')!.leader}`);
  t.is(results.at(-1), '7', 'shard 2 is served again');
});
