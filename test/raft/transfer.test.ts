// Leadership transfer (dissertation §3.10).
import test from 'ava';
import { RaftError } from '../../node/raft/types.ts';
import { Network, enc } from './helpers/network.ts';

const code = (e: unknown) => (e instanceof RaftError ? e.code : String(e));

test('transfer to an up-to-date follower: it campaigns at once and wins', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.propose('a', 'x');
  const mark = net.log.length;
  net.raw('a').transferLeadership('b');
  net.deliver();
  t.is(net.leader(), 'b');
  t.is(net.raw('b').status().term, 2);
  t.is(net.raw('a').status().leader, 'b');
  const tn = net.log.filter((m) => m.type === 'timeoutNow');
  t.is(tn.length, 1);
  t.false(net.log.slice(mark).some((m) => m.type === 'preVote'), 'the forced campaign skips pre-vote');
  t.true(net.log.slice(mark).some((m) => m.type === 'vote' && m.context === 'transfer'));
});

test('transfer to a lagging follower first brings it up to date', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  for (let i = 0; i < 5; i++) net.propose('a', `v${i}`);
  net.heal();
  net.queue = [];
  net.raw('a').transferLeadership('c');
  t.is(code(t.throws(() => net.raw('a').propose(enc('refused')))), 'TRANSFERRING');
  net.tickAll(3);
  t.is(net.leader(), 'c');
  t.deepEqual(net.appliedData('c'), ['v0', 'v1', 'v2', 'v3', 'v4']);
});

test('a transfer that cannot finish is aborted after an election timeout; proposals resume', (t) => {
  const net = new Network(['a', 'b', 'c'], { electionTimeoutTicks: 10 });
  net.elect('a');
  net.isolate('c');
  net.raw('a').transferLeadership('c');
  t.is(net.raw('a').status().leadTransferee, 'c');
  net.tickAll(11);
  t.is(net.raw('a').status().leadTransferee, null);
  t.is(net.leader(), 'a');
  t.notThrows(() => net.raw('a').propose(enc('ok')));
});

test('transfer to self, a learner or a non-member is ignored', (t) => {
  const net = new Network(['a', 'b', 'l'], {}, 1, { voters: ['a', 'b'], learners: ['l'] });
  net.elect('a');
  for (const to of ['a', 'l', 'zz']) {
    net.raw('a').transferLeadership(to);
    t.is(net.raw('a').status().leadTransferee, null, to);
  }
});

test('the transfer target campaigns despite the other followers\' lease', (t) => {
  const net = new Network(['a', 'b', 'c', 'd', 'e']);
  net.elect('a');
  net.tickAll(2); // everyone heard from a just now: all are in lease
  net.raw('a').transferLeadership('e');
  net.deliver();
  t.is(net.leader(), 'e');
});

test('repeated transfer requests do not postpone check-quorum: a cut-off leader still steps down', (t) => {
  // Regression: each transfer reset the election clock that also times the quorum check.
  const net = new Network(['a', 'b', 'c'], { electionTimeoutTicks: 10 });
  net.elect('a');
  net.isolate('a');
  for (let i = 0; i < 30 && net.raw('a').status().role === 'leader'; i++) {
    if (i % 5 === 0) net.raw('a').transferLeadership(i % 10 === 0 ? 'b' : 'c');
    net.tickAll(1);
  }
  t.is(net.raw('a').status().role, 'follower');
});

test('a transfer is abandoned one election timeout after it started, not at the next quorum check', (t) => {
  const net = new Network(['a', 'b', 'c'], { electionTimeoutTicks: 10 });
  net.elect('a');
  net.tickAll(8);
  net.isolate('c');
  net.raw('a').transferLeadership('c');
  net.tickAll(5); // a quorum check passes meanwhile (b answers)
  t.is(net.raw('a').status().leadTransferee, 'c', 'still within its election timeout');
  net.tickAll(6);
  t.is(net.raw('a').status().leadTransferee, null);
  t.is(net.leader(), 'a');
});

// A follower that took the leader's late messages for silence (leader-clock.ts) is a
// pre-candidate whose pre-votes the others refuse; a transfer to it used to be dropped (a
// pre-candidate ignored timeoutNow) and the leader waited out the transfer timeout.
test('a pre-candidate that is sent timeoutNow campaigns and wins', (t) => {
  const net = new Network(['a', 'b', 'c'], { electionTimeoutTicks: 10 });
  net.elect('a');
  net.propose('a', 'x');
  net.cutLink('a', 'b');
  for (let i = 0; i < 40 && net.raw('b').status().role !== 'preCandidate'; i++) {
    net.tick('a');
    net.tick('c');
    net.tick('b');
    // c hears a, so it refuses b's pre-vote (lease); b's answer to nothing stays a pre-candidate.
    net.deliverWhere((m) => m.type !== 'preVoteResp' || m.to !== 'b' || m.reject);
  }
  t.is(net.raw('b').status().role, 'preCandidate');
  net.heal();
  net.raw('a').transferLeadership('b');
  net.drainAll();
  // Only the timeoutNow, before any heartbeat that would make b a follower again.
  net.deliverWhere((m) => m.type === 'timeoutNow');
  t.is(net.raw('b').status().role, 'candidate');
  net.deliver();
  t.is(net.leader(), 'b');
});
