// ReadIndex (dissertation §6.4): linearizable reads without writing to the log.
import test from 'ava';
import { RaftError } from '../../node/raft/types.ts';
import { Network } from './helpers/network.ts';

const code = (e: unknown) => (e instanceof RaftError ? e.code : String(e));

test('a follower refuses ReadIndex with NOT_LEADER', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  t.is(code(t.throws(() => net.raw('b').readIndex('r1'))), 'NOT_LEADER');
});

test('a new leader refuses ReadIndex until it committed an entry of its term', (t) => {
  const net = new Network(['a', 'b', 'c']);
  // Keep the no-op from committing: drop the followers' answers.
  net.filter = (m) => m.type === 'appResp';
  net.elect('a');
  t.is(net.raw('a').status().role, 'leader');
  t.is(code(t.throws(() => net.raw('a').readIndex('r1'))), 'NOT_READY');
  net.heal();
  net.tickAll(2);
  t.is(net.raw('a').status().commit, 1);
  t.notThrows(() => net.raw('a').readIndex('r2'));
});

test('ReadIndex answers with the commit index at request time after a heartbeat quorum', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.propose('a', 'x');
  const a = net.raw('a');
  a.readIndex('ctx-1');
  // Nothing before the round completes.
  t.deepEqual(net.get('a').readStates, []);
  net.drain('a');
  t.deepEqual(net.get('a').readStates, []);
  net.deliver();
  t.deepEqual(net.get('a').readStates, [{ index: 2, context: 'ctx-1' }]);
});

test('one voter acknowledging is enough in a 3-group (leader + 1); none is not', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('b');
  net.isolate('c');
  net.raw('a').readIndex('q');
  net.deliver();
  t.deepEqual(net.get('a').readStates, []);
  net.heal();
  net.isolate('c');
  net.raw('a').readIndex('q2');
  net.deliver();
  // q was waiting too: the later round confirms it as well, in order.
  t.deepEqual(net.get('a').readStates.map((r) => r.context), ['q', 'q2']);
});

test('a stale leader cut off from the majority cannot serve a read', (t) => {
  const net = new Network(['a', 'b', 'c'], { checkQuorum: false });
  net.elect('a');
  net.isolate('a');
  net.tickAll(40);
  const nl = ['b', 'c'].find((id) => net.raw(id).status().role === 'leader');
  t.truthy(nl);
  net.propose(nl!, 'newer');
  // a still believes it leads; its read never completes while partitioned.
  t.is(net.raw('a').status().role, 'leader');
  net.raw('a').readIndex('stale');
  net.tickAll(5);
  t.deepEqual(net.get('a').readStates, []);
  // Once it can talk again, it learns the new term and the read is dropped, not answered.
  net.heal();
  net.tickAll(3);
  t.deepEqual(net.get('a').readStates, []);
  t.is(net.raw('a').status().role, 'follower');
});

test('a single-voter group answers ReadIndex immediately', (t) => {
  const net = new Network(['a']);
  net.elect('a');
  net.propose('a', 'x');
  net.raw('a').readIndex('solo');
  net.drain('a');
  t.deepEqual(net.get('a').readStates, [{ index: 2, context: 'solo' }]);
});

test('learner acks do not count toward the read quorum', (t) => {
  const net = new Network(['a', 'b', 'c', 'l'], {}, 1, { voters: ['a', 'b', 'c'], learners: ['l'] });
  net.elect('a');
  net.isolate('b');
  net.isolate('c');
  net.raw('a').readIndex('r');
  net.deliver();
  t.true(net.log.some((m) => m.type === 'heartbeatResp' && m.from === 'l' && m.context === 'r'));
  t.deepEqual(net.get('a').readStates, []);
});

test('a deposed leader still reaching one follower of its old term cannot complete a read (5 nodes)', (t) => {
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const net = new Network(ids, { checkQuorum: false });
  net.elect('a');
  net.propose('a', 'x');
  // {a, b} | {c, d, e}: the majority side elects a new leader; a and b stay in term 1.
  for (const l of ['a', 'b']) for (const r of ['c', 'd', 'e']) (net.cutLink(l, r), net.cutLink(r, l));
  net.tickAll(60);
  const nl = ['c', 'd', 'e'].find((id) => net.raw(id).status().role === 'leader');
  t.truthy(nl);
  net.propose(nl!, 'newer');
  t.is(net.raw('a').status().role, 'leader');
  t.is(net.raw('b').status().term, 1);
  net.raw('a').readIndex('stale');
  net.tickAll(5);
  t.true(net.log.some((m) => m.type === 'heartbeatResp' && m.from === 'b' && m.context === 'stale'), 'b did answer');
  t.deepEqual(net.get('a').readStates, [], 'a + b is not a majority of 5');
  net.raw(nl!).readIndex('fresh');
  net.tickAll(1);
  t.deepEqual(net.get(nl!).readStates.map((r) => r.context), ['fresh']);
  t.is(net.get(nl!).readStates[0]!.index, net.raw(nl!).status().commit);
});
