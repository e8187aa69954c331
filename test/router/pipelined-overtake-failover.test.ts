/**
 * A review (router/bucket-lanes.ts): a connection pipelines INC A then INC B of one sequence. A is
 * pending on the old leader L1 (a proposal that will not commit: L1 was cut off from its peers
 * and steps down). A read pipelined AHEAD of A on the same node connection is answered at once
 * on the step-down (node/replication/raft-node.ts: reads.failAll(notLeader()) on a role change,
 * while proposals wait for their index or their timeout), so the router learns the new leader L2
 * while A is still in flight, and sends B straight to L2. A is retried only when its attempt times
 * out (2 s) and then takes the next number: B got the lower number although the client sent it
 * after A on one connection. Lanes only hold later commands behind an earlier one already known
 * to retry, and the earlier one went to a different node than the later, so "it meets the same
 * refusal" (router/DESIGN.md) does not hold.
 */
import test from 'ava';
import type { Command, CommandResult } from '../../node/state-machine/command.ts';
import { forwarderFor, orderedNode, type FakeNode } from './fake-node.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a connection\'s pipelined INC sent after an earlier one still in flight to the old leader does not take a lower number', async (t) => {
  let l2: FakeNode | undefined;
  let counter = 0n;
  const tokens = new Map<string, bigint>();
  // L1: the old leader, cut off from its peers. The GET (bucket x) is failed NOTLEADER on its
  // step-down 300 ms in; the INC behind it is a proposal that never commits (no reply).
  const l1 = await orderedNode((args) => (args[0] === 'GET' ? sleep(300).then(() => '-NOTLEADER 2 ?\r\n') : 'never'));
  // F: a follower that already knows the new leader.
  const f = await orderedNode(() => `-NOTLEADER 2 ${l2!.address}\r\n`);
  // L2: the new leader; exactly-once by token.
  l2 = await orderedNode((args) => {
    if (args[0] === 'GET') return '$-1\r\n';
    const token = args[args.indexOf('ID') + 1]!;
    if (!tokens.has(token)) tokens.set(token, ++counter);
    return `:${tokens.get(token)!}\r\n`;
  });
  const { forwarder, map } = await forwarderFor(t, [l1, f, l2], { backoffMs: 100 });
  map.entry('2').leader = l1.address;

  const results: string[] = [];
  const label = (r: CommandResult): string => (r.type === 'int' ? String(r.value) : r.type === 'error' ? `${r.code} ${r.message}` : r.type);
  const get: Command = { type: 'get', bucket: Buffer.from('x'), sequence: Buffer.from('s') } as Command;
  const incA: Command = { type: 'inc', bucket: Buffer.from('b'), sequence: Buffer.from('s'), count: 1, token: Buffer.from(`${Date.now()}-clientA`) };
  const incB: Command = { type: 'inc', bucket: Buffer.from('b'), sequence: Buffer.from('s'), count: 1, token: Buffer.from(`${Date.now()}-clientB`) };
  // Another client's GET, then this client's INC A, both to L1 (the leader the router knows).
  const g = forwarder.execute(get);
  await sleep(5);
  const a = forwarder.execute(incA).then((r) => { results.push(`A=${label(r)}`); return r; });
  // The client pipelines INC B before A's reply (it has none yet): after the router learned L2.
  await sleep(700);
  t.log(`router's leader when B is sent: ${map.get('2')!.leader === l2.address ? 'L2' : map.get('2')!.leader}`);
  const b = forwarder.execute(incB).then((r) => { results.push(`B=${label(r)}`); return r; });
  const [ra, rb] = await Promise.all([a, b, g]);
  t.log(results.join(', '));
  t.is(ra.type, 'int');
  t.is(rb.type, 'int');
  if (ra.type === 'int' && rb.type === 'int') t.true(ra.value < rb.value, `INC A (sent first) got ${ra.value}, INC B (sent after it on the same connection) got ${rb.value}`);
});
