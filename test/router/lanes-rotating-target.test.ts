// A review: bucket-lanes.ts releases the waiting commands of a bucket right after the
// held one is re-sent, and they then pick their node themselves. With no leader known (a
// NOTLEADER without hint, a lost connection: the cases dc32577 says are fixed),
// ShardMap.target() rotates over the members, so the held command goes to one member and the
// command released behind it to the NEXT one. If that one is the (new) leader, the later INC
// takes its number first and the earlier one, refused by the other member, gets a later number:
// two pipelined INCs of one connection reversed again.
import test from 'ava';
import type { Command } from '../../node/state-machine/command.ts';
import { fakeNode, forwarderFor, type FakeNode } from './fake-node.ts';

const inc = (token: string): Command => ({ type: 'inc', bucket: Buffer.from('b'), sequence: Buffer.from('s'), count: 1, token: Buffer.from(token) });

test('while no leader is known, an INC released behind a retried one of its bucket still gets the later number', async (t) => {
  let next = 0;
  let leader: FakeNode | null = null; // the election is under way: nobody leads yet
  const script = (self: () => FakeNode) => (args: string[]): string => {
    if (args[0] !== 'INC') return '+OK\r\n';
    return leader === self() ? `:${++next}\r\n` : '-NOTLEADER 2 ?\r\n';
  };
  let p: FakeNode | undefined;
  let q: FakeNode | undefined;
  p = await fakeNode(script(() => p!));
  q = await fakeNode(script(() => q!));
  const { forwarder } = await forwarderFor(t, [p, q], { backoffMs: 150, deadlineMs: 3000 });
  const first = forwarder.execute(inc('first'));
  while (forwarder.bucketsRetrying === 0) await new Promise((r) => setTimeout(r, 5)); // refused: it waits to retry
  const second = forwarder.execute(inc('second')); // pipelined behind it: waits in its lane
  // The election ends: the member that was asked first now leads (it answers hints only later).
  leader = p.seen.some((a) => a[0] === 'INC') ? p : q;
  const [a, b] = [await first, await second];
  const log = [...p.seen.map((x) => `p:${x.at(-1)}`), ...q.seen.map((x) => `q:${x.at(-1)}`)].filter((x) => !x.endsWith('OK'));
  t.log('first ->', a, 'second ->', b, 'attempts', log.join(' '));
  t.true(a.type === 'int' && b.type === 'int' && a.value < b.value, `first got ${JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}, second ${JSON.stringify(b, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}`);
});

for (const order of ['old first', 'new first'] as const) {
  test(`a lost connection (${order} in the member list): two pipelined INCs of a bucket keep their order`, async (t) => {
    let next = 0;
    const old = await fakeNode((args) => (args[0] === 'INC' ? 'drop' : '+OK\r\n')); // the leader dies
    const nu = await fakeNode((args) => (args[0] === 'INC' ? `:${++next}\r\n` : '+OK\r\n')); // the new one
    const { forwarder, map } = await forwarderFor(t, order === 'old first' ? [old, nu] : [nu, old], { backoffMs: 50, deadlineMs: 3000 });
    map.entry('2').leader = old.address;
    const first = forwarder.execute(inc('first'));
    const second = forwarder.execute(inc('second')); // pipelined behind it on the same connection
    const [a, b] = [await first, await second];
    const show = (r: unknown): string => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? Number(v) : v));
    t.log(`first ${show(a)} second ${show(b)}; old saw ${old.seen.map((x) => x.at(-1)).join(',')}; new saw ${nu.seen.map((x) => x.at(-1)).join(',')}`);
    t.true(a.type === 'int' && b.type === 'int' && a.value < b.value, `first ${show(a)}, second ${show(b)}`);
  });
}
