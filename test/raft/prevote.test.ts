// Pre-vote and check-quorum (dissertation §9.6, §4.2.3): a partitioned node rejoining does not
// depose a healthy leader, and does not inflate terms.
import test from 'ava';
import { MemoryStorage } from '../../node/raft/memory-storage.ts';
import { RawNode } from '../../node/raft/raw-node.ts';
import { Network, msg, seededRng } from './helpers/network.ts';

test('an isolated follower does not inflate its term (pre-vote fails, term unchanged)', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  net.tickAll(100);
  t.is(net.raw('c').status().term, 1);
  t.is(net.raw('c').status().role, 'preCandidate');
});

test('a rejoining partitioned node does not depose the healthy leader', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  net.tickAll(100);
  net.heal();
  net.tickAll(30);
  t.is(net.leader(), 'a');
  t.is(net.raw('a').status().term, 1);
  t.is(net.raw('c').status().leader, 'a');
});

test('without pre-vote a rejoining node with a higher term still does not win, and the group recovers', (t) => {
  const net = new Network(['a', 'b', 'c'], { preVote: false });
  net.elect('a');
  net.isolate('c');
  net.tickAll(60);
  const cTerm = net.raw('c').status().term;
  t.true(cTerm > 1);
  net.propose('a', 'during');
  net.heal();
  net.tickAll(60);
  const l = net.leader();
  t.not(l, 'c', 'c lacks a committed entry');
  t.not(l, null);
  t.deepEqual(net.appliedData('c'), ['during']);
});

test('followers within the leader lease ignore vote and pre-vote requests of a higher term', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const b = net.raw('b');
  b.step(msg({ type: 'preVote', from: 'c', to: 'b', term: 2, index: 10, logTerm: 5 }));
  b.step(msg({ type: 'vote', from: 'c', to: 'b', term: 2, index: 10, logTerm: 5 }));
  t.false(b.hasReady());
  t.is(b.status().term, 1);
  t.is(b.status().vote, 'a');
});

test('a vote request marked as a transfer bypasses the lease', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const b = net.raw('b');
  b.step(msg({ type: 'vote', from: 'c', to: 'b', term: 2, index: 1, logTerm: 1, context: 'transfer' }));
  const rd = net.drain('b')!;
  t.like(rd.messages[0], { type: 'voteResp', reject: false, term: 2 });
  t.is(b.status().vote, 'c');
});

test('a pre-vote is granted without the voter changing term or vote', (t) => {
  const s = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
  s.setHardState({ term: 3, vote: 'a', commit: 0 });
  const n = new RawNode({ id: 'b', storage: s, rng: seededRng(1) });
  n.step(msg({ type: 'preVote', from: 'c', to: 'b', term: 4 }));
  const rd = n.ready();
  t.like(rd.messages[0], { type: 'preVoteResp', reject: false, term: 4 });
  t.is(rd.hardState, undefined);
  t.is(n.status().term, 3);
  t.is(n.status().vote, 'a');
});

test('check-quorum: a leader cut off from the majority steps down within an election timeout', (t) => {
  const net = new Network(['a', 'b', 'c'], { electionTimeoutTicks: 10 });
  net.elect('a');
  net.isolate('a');
  net.tickAll(21);
  t.is(net.raw('a').status().role, 'follower');
  t.not(net.leader(), null, 'b or c took over');
  t.not(net.leader(), 'a');
});

test('check-quorum: a leader with a live majority stays leader indefinitely', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  net.tickAll(200);
  t.is(net.leader(), 'a');
  t.is(net.raw('a').status().term, 1);
});

test('a stale leader learns the new term from a follower answering its heartbeat', (t) => {
  // Without check-quorum the cut-off leader would lead forever in its own view.
  const net = new Network(['a', 'b', 'c'], { checkQuorum: false });
  net.elect('a');
  net.isolate('a');
  net.tickAll(30);
  const l = ['b', 'c'].find((id) => net.raw(id).status().role === 'leader');
  t.truthy(l);
  t.is(net.raw('a').status().role, 'leader', 'a is stale but does not know');
  const newTerm = net.raw(l!).status().term;
  net.heal();
  net.tick('a'); // heartbeat at the old term; followers answer with theirs
  net.deliver();
  t.is(net.raw('a').status().term, newTerm);
  t.is(net.raw('a').status().role, 'follower');
});

test('check-quorum counts voters only: a leader hearing just a learner steps down', (t) => {
  const net = new Network(['a', 'b', 'c', 'l'], { electionTimeoutTicks: 10 }, 1, { voters: ['a', 'b', 'c'], learners: ['l'] });
  net.elect('a');
  net.isolate('b');
  net.isolate('c');
  net.tickAll(21);
  t.true(net.log.some((m) => m.type === 'heartbeatResp' && m.from === 'l'), 'the learner kept answering');
  t.is(net.raw('a').status().role, 'follower');
});
