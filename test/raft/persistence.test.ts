// Persistence order: what is not durable does not count, and a crash loses only that.
import test from 'ava';
import { MemoryStorage } from '../../node/raft/memory-storage.ts';
import { RawNode } from '../../node/raft/raw-node.ts';
import { InvariantError } from '../../node/raft/invariants.ts';
import { Network, enc, entry, msg, seededRng } from './helpers/network.ts';

test('a single-node leader commits its entry only after advance() acknowledges persistence', (t) => {
  const s = new MemoryStorage({ voters: ['a'], learners: [] });
  const n = new RawNode({ id: 'a', storage: s, rng: seededRng(1) });
  n.campaign();
  let rd = n.ready();
  t.is(n.status().commit, 0, 'no-op not durable yet');
  t.is(rd.committedEntries.length, 0);
  s.append(rd.entries);
  s.setHardState(rd.hardState!);
  n.advance();
  t.is(n.status().commit, 1);
  n.propose(enc('x'));
  rd = n.ready();
  t.is(n.status().commit, 1);
  t.deepEqual(rd.entries.map((e) => e.index), [2]);
  s.append(rd.entries);
  n.advance();
  rd = n.ready();
  t.deepEqual(rd.committedEntries.map((e) => e.index), [2]);
  t.is(rd.hardState?.commit, 2);
});

test('a leader with unpersisted entries does not count itself: one follower ack is not enough', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.raw('a');
  a.propose(enc('x'));
  const rd = a.ready(); // entries handed to the driver, not yet acknowledged by advance()
  t.is(a.status().progress!['a']!.match, 1);
  // b receives and answers before a's advance(); c is silent.
  const toB = rd.messages.filter((m) => m.to === 'b');
  for (const m of toB) net.raw('b').step(m);
  const bRd = net.drain('b')!;
  net.queue = [];
  for (const m of bRd.messages) a.step(m);
  t.is(a.status().commit, 1, 'b alone is not a majority without a durable leader copy');
  net.get('a').storage.append(rd.entries);
  a.advance();
  t.is(a.status().progress!['a']!.match, 2);
  t.is(a.status().commit, 2);
});

/** b has just been sent a's proposal of 'x' (a's Ready handled, the network queue emptied). */
function followerGotProposal(): { b: RawNode } {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.raw('a').propose(enc('x'));
  const rd = net.drain('a')!;
  net.queue = [];
  const b = net.raw('b');
  for (const m of rd.messages.filter((m) => m.to === 'b')) b.step(m);
  return { b };
}

test('a follower acks appended entries only in the Ready that carries them for persistence', (t) => {
  const { b } = followerGotProposal();
  const bRd = b.ready();
  const ack = bRd.messages.find((m) => m.type === 'appResp')!;
  t.is(ack.index, 2);
  t.true(bRd.entries.some((e) => e.index === 2), 'the acked entry is in the same Ready, persisted before sending');
  b.advance();
});

test('a crash before persisting a Ready loses its entries and vote; the node stays consistent', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.propose('a', 'durable');
  const b = net.raw('b');
  net.raw('a').propose(enc('lost-on-b'));
  const rd = net.drain('a')!;
  net.queue = [];
  for (const m of rd.messages.filter((m) => m.to === 'b')) b.step(m);
  b.ready(); // never persisted
  net.restart('b');
  const st = net.raw('b').status();
  t.is(st.lastIndex, 2);
  t.is(st.term, 1);
  // The leader resends; b catches up.
  net.tickAll(3);
  t.deepEqual(net.appliedData('b'), ['durable', 'lost-on-b']);
});

test('the term and vote are in the Ready before the vote request goes out', (t) => {
  const s = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
  const n = new RawNode({ id: 'a', storage: s, rng: seededRng(1), preVote: false });
  n.campaign();
  const rd = n.ready();
  t.deepEqual(rd.hardState, { term: 1, vote: 'a', commit: 0 });
  t.is(rd.messages.filter((m) => m.type === 'vote').length, 2);
});

test('restart keeps term, vote, commit and the log; applied resumes from the config', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  for (let i = 0; i < 3; i++) net.propose('a', `v${i}`);
  const before = net.raw('a').status();
  const storage = net.get('a').storage;
  const n = new RawNode({ id: 'a', storage, rng: seededRng(9), applied: 2 });
  const st = n.status();
  t.is(st.term, before.term);
  t.is(st.vote, 'a');
  t.is(st.commit, before.commit);
  t.is(st.applied, 2);
  t.is(st.role, 'follower');
  const rd = n.ready();
  t.deepEqual(rd.committedEntries.map((e) => e.index), [3, 4]);
});

test('invariant: a stored commit beyond the last index is refused at startup', (t) => {
  const s = new MemoryStorage({ voters: ['a'], learners: [] });
  s.setHardState({ term: 1, vote: null, commit: 5 });
  const e = t.throws(() => new RawNode({ id: 'a', storage: s, rng: seededRng(1) }));
  t.regex(e!.message, /commit <= last index/);
});

test('ready() twice without advance() is a driver bug and throws', (t) => {
  const net = new Network(['a']);
  const a = net.raw('a');
  a.campaign();
  a.ready();
  t.false(a.hasReady());
  t.throws(() => a.ready());
});

test('a vote granted while a Ready is outstanding goes out only in the next Ready, which carries the vote', (t) => {
  const s = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
  const n = new RawNode({ id: 'a', storage: s, rng: seededRng(1), preVote: false });
  n.tick();
  const rd1 = n.ready(); // whatever it holds, the driver is still persisting it
  n.step(msg({ type: 'vote', from: 'b', to: 'a', term: 3 }));
  t.false(rd1.messages.some((m) => m.type === 'voteResp'), 'not in the Ready already handed out');
  t.false(n.hasReady(), 'nothing new before advance()');
  n.advance();
  const rd2 = n.ready();
  t.deepEqual(rd2.hardState, { term: 3, vote: 'b', commit: 0 });
  t.like(rd2.messages.find((m) => m.type === 'voteResp'), { to: 'b', term: 3, reject: false });
  n.advance();
});

test('a node elected while its log is unpersisted counts only its durable entries toward commit', (t) => {
  const net = new Network(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
  net.elect('a');
  const b = net.raw('b');
  // b receives 2..3 from a but has not persisted them when it becomes leader of term 2.
  b.step(msg({ type: 'app', from: 'a', to: 'b', term: 1, index: 1, logTerm: 1, entries: [entry(2, 1, 'x'), entry(3, 1, 'y')], commit: 1 }));
  b.campaign();
  b.step(msg({ type: 'voteResp', from: 'c', to: 'b', term: 2 }));
  t.is(b.status().role, 'leader');
  t.is(b.status().lastIndex, 4);
  t.is(b.status().progress!['b']!.match, 1, 'only index 1 is durable on b');
  // c acknowledges everything; b's own copy is still missing from the quorum count.
  b.step(msg({ type: 'appResp', from: 'c', to: 'b', term: 2, index: 4 }));
  t.is(b.status().commit, 1);
  net.drain('b');
  t.is(b.status().progress!['b']!.match, 4);
  t.is(b.status().commit, 4);
});

test('invariant: committed entries are never skipped, even if the driver compacts past applied', (t) => {
  const s = new MemoryStorage({ voters: ['a'], learners: [] });
  const n = new RawNode({ id: 'a', storage: s, rng: seededRng(1), maxCommittedBytesPerReady: 10 });
  n.campaign();
  const drain = () => {
    const rd = n.ready();
    s.append(rd.entries);
    if (rd.hardState) s.setHardState(rd.hardState);
    n.advance();
    return rd;
  };
  drain();
  for (let i = 0; i < 5; i++) n.propose(new Uint8Array(10));
  drain();
  drain();
  const st = n.status();
  t.true(st.commit === 6 && st.applied < 5, `commit ${st.commit}, applied ${st.applied}`);
  // A driver bug: snapshot and compaction beyond what it applied.
  s.createSnapshot(5, st.conf, new Uint8Array(0));
  s.compact(5);
  t.throws(() => n.ready(), { instanceOf: InvariantError, message: /never skipped/ });
});

// ---- a leader's background writes: advance({ entriesPending }) then appended() ----

function leaderWithPendingWrite(): { net: Network; a: RawNode; rd: ReturnType<RawNode['ready']> } {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.raw('a');
  a.propose(enc('x'));
  const rd = a.ready();
  a.advance({ entriesPending: true });
  return { net, a, rd };
}

test('entriesPending: the leader\'s own copy counts only at appended(); two followers commit without it', (t) => {
  const { net, a, rd } = leaderWithPendingWrite();
  t.deepEqual(rd.entries.map((e) => e.index), [2]);
  t.is(a.status().progress!['a']!.match, 1, 'not durable: not counted');
  t.false(a.hasReady() && a.ready().entries.length > 0, 'the entries in flight are not handed out again');
  for (const m of rd.messages) net.raw(m.to).step(m);
  for (const id of ['b', 'c']) {
    const frd = net.drain(id)!;
    for (const m of frd.messages.filter((m) => m.to === 'a')) a.step(m);
  }
  t.is(a.status().commit, 2, 'b and c hold entry 2 on disk: a quorum without the leader');
  t.is(a.status().progress!['a']!.match, 1);
  net.get('a').storage.append(rd.entries);
  a.appended(2, rd.entries[0]!.term);
  t.is(a.status().progress!['a']!.match, 2);
});

test('entriesPending: one follower plus the leader\'s appended() commit', (t) => {
  const { net, a, rd } = leaderWithPendingWrite();
  const toB = rd.messages.filter((m) => m.to === 'b');
  for (const m of toB) net.raw('b').step(m);
  for (const m of net.drain('b')!.messages.filter((m) => m.to === 'a')) a.step(m);
  t.is(a.status().commit, 1, 'b alone is not a majority');
  net.get('a').storage.append(rd.entries);
  a.appended(2, rd.entries[0]!.term);
  t.is(a.status().commit, 2);
});

test('entriesPending: appended() of a replaced entry is ignored; replaced entries are handed out again', (t) => {
  const { a, rd } = leaderWithPendingWrite();
  const term = rd.entries[0]!.term;
  // A new leader of a higher term replaces entry 2 before our write of it finishes.
  a.step(msg({ type: 'app', from: 'b', to: 'a', term: term + 1, index: 1, logTerm: term, commit: 1, entries: [entry(2, term + 1, 'y')] }));
  a.appended(2, term);
  const next = a.ready();
  t.deepEqual(next.entries.map((e) => `${e.index}@${e.term}`), [`2@${term + 1}`], 'the replacement is handed out for writing');
  t.is(a.status().role, 'follower');
});

test('entriesPending is refused for a follower\'s Ready', (t) => {
  const { b } = followerGotProposal();
  b.ready();
  t.throws(() => b.advance({ entriesPending: true }), { message: /leader/ });
});

test('entriesPending: a leader that stepped down while the driver handled its Ready still advances it', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.raw('a');
  a.propose(enc('x'));
  const rd = a.ready();
  const term = rd.entries[0]!.term;
  // A higher term arrives while the driver waits on I/O for this Ready.
  a.step(msg({ type: 'heartbeat', from: 'b', to: 'a', term: term + 1, commit: 1 }));
  t.is(a.status().role, 'follower');
  t.notThrows(() => a.advance({ entriesPending: true }));
  net.get('a').storage.append(rd.entries);
  a.appended(2, term);
  t.is(a.status().lastIndex, 2);
});
