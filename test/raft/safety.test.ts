// Raft paper §5.4 (safety): Figure 7 follower logs, Figure 8 (no commit by counting old-term
// replicas), leader completeness, and the leader's no-op.
import test from 'ava';
import { Network, entry, msg } from './helpers/network.ts';

const LEADER_TERMS = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
const FIGURE7: Record<string, number[]> = {
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 1, 4],
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 1, 4, 4, 4, 4],
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
};

function logTerms(net: Network, id: string): number[] {
  const s = net.get(id).storage;
  const out: number[] = [];
  for (let i = s.firstIndex(); i <= s.lastIndex(); i++) out.push(s.term(i));
  return out;
}

for (const [name, terms] of Object.entries(FIGURE7)) {
  test(`Figure 7 (${name}): the term-8 leader brings the follower log to its own`, (t) => {
    // L and X share the leader's log (X gives L its majority); F has the figure's log.
    const net = new Network(['L', 'X', 'F']);
    const load = (id: string, ts: number[]) => {
      const s = net.get(id).storage;
      s.append(ts.map((tm, i) => entry(i + 1, tm, `${id}${i + 1}`)));
      s.setHardState({ term: 7, vote: null, commit: 0 });
    };
    load('L', LEADER_TERMS);
    load('X', LEADER_TERMS);
    load('F', terms);
    for (const id of ['L', 'X', 'F']) net.restart(id);
    net.elect('L');
    t.is(net.raw('L').status().role, 'leader');
    t.is(net.raw('L').status().term, 8);
    net.tickAll(3);
    t.deepEqual(logTerms(net, 'F'), [...LEADER_TERMS, 8]);
    t.is(net.raw('F').status().commit, 11);
  });
}

test('Figure 8: a leader does not commit an old-term entry by counting replicas', (t) => {
  const ids = ['s1', 's2', 's3', 's4', 's5'];
  const net = new Network(ids, { preVote: false });
  for (const id of ids) {
    const s = net.get(id).storage;
    const second = id === 's4' || id === 's5' ? entry(2, 3, 'from-s5') : entry(2, 2, 'from-s1');
    s.append([entry(1, 1), second]);
    s.setHardState({ term: 3, vote: null, commit: 1 });
    net.restart(id);
  }
  // Keep s1's app messages from going out: we answer them by hand.
  net.filter = (m) => m.from === 's1' && m.type === 'app';
  net.elect('s1');
  const s1 = net.raw('s1');
  t.is(s1.status().role, 'leader');
  t.is(s1.status().term, 4);
  net.drainAll(); // the no-op (index 3) is now durable on s1
  net.queue = [];
  // s2 and s3 acknowledge index 2 (term 2): a majority holds it, yet it must not commit.
  s1.step(msg({ type: 'appResp', from: 's2', to: 's1', term: 4, index: 2 }));
  s1.step(msg({ type: 'appResp', from: 's3', to: 's1', term: 4, index: 2 }));
  net.drainAll();
  t.is(s1.status().commit, 1);
  // Once the term-4 no-op is on a majority, index 2 commits with it.
  s1.step(msg({ type: 'appResp', from: 's2', to: 's1', term: 4, index: 3 }));
  t.is(s1.status().commit, 1, 's1 + s2 is not a majority of 5');
  s1.step(msg({ type: 'appResp', from: 's3', to: 's1', term: 4, index: 3 }));
  t.is(s1.status().commit, 3);
});

test('Figure 8 end to end: an uncommitted old-term entry may be overwritten, never after it is applied', (t) => {
  const ids = ['s1', 's2', 's3', 's4', 's5'];
  // Forced elections right after partitions: the leader lease is not what this tests.
  const net = new Network(ids, { preVote: false, checkQuorum: false });
  net.elect('s1');
  // (a) s1 replicates x only to s2.
  for (const id of ['s3', 's4', 's5']) net.isolate(id);
  net.propose('s1', 'x');
  t.is(net.raw('s1').status().commit, 1);
  // (b) s1 crashes; s5 wins with s3, s4 and writes y, which reaches nobody.
  net.heal();
  net.isolate('s1');
  net.isolate('s2');
  net.elect('s5');
  t.is(net.raw('s5').status().role, 'leader');
  net.isolate('s5');
  net.raw('s5').propose(new TextEncoder().encode('y'));
  net.deliver();
  // (c) s1 comes back (only s2 reachable besides it): no majority, x stays uncommitted.
  net.heal();
  for (const id of ['s3', 's4', 's5']) net.isolate(id);
  net.restart('s1');
  net.raw('s1').campaign();
  net.deliver();
  t.not(net.raw('s1').status().role, 'leader');
  // (d) s5 returns and wins with s2, s3, s4: it overwrites x.
  net.heal();
  net.isolate('s1');
  net.restart('s5');
  net.tickAll(40);
  net.heal();
  net.tickAll(40);
  const l = net.leader();
  t.not(l, null);
  for (const id of ids) t.false(net.appliedData(id).includes('x') && net.appliedData(id).includes('y'), id);
  // Every node applied the same sequence.
  const seqs = ids.map((id) => JSON.stringify(net.appliedData(id)));
  t.is(new Set(seqs).size, 1, seqs.join(' | '));
});

test('a new leader appends an empty entry of its term; an uncommitted entry it lacks is dropped', (t) => {
  const net = new Network(['a', 'b', 'c'], { checkQuorum: false });
  net.elect('a');
  net.isolate('c');
  net.isolate('b');
  net.raw('a').propose(new TextEncoder().encode('old'));
  net.deliver();
  net.heal();
  net.isolate('a');
  // b has no copy of "old": a must come back for it to survive; elect b then heal.
  net.elect('b');
  const b = net.raw('b').status();
  t.is(b.role, 'leader');
  const noop = net.get('b').applied[net.get('b').applied.length - 1]!;
  t.is(noop.term, b.term);
  t.is(noop.data.length, 0);
  net.heal();
  net.tickAll(5);
  // a's uncommitted "old" was replaced: never applied anywhere.
  for (const id of ['a', 'b', 'c']) t.deepEqual(net.appliedData(id), [], id);
});

test('leader completeness: a node missing a committed entry cannot win', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  net.propose('a', 'committed');
  t.is(net.raw('a').status().commit, 2);
  net.heal();
  net.isolate('a');
  net.queue = [];
  net.raw('c').campaign();
  net.deliver();
  t.not(net.raw('c').status().role, 'leader');
  net.tickAll(50);
  const l = net.leader();
  t.true(l === 'b', `leader ${l}`);
});
