// Snapshots, log compaction and InstallSnapshot.
import test from 'ava';
import { MemoryStorage } from '../../node/raft/memory-storage.ts';
import { RawNode } from '../../node/raft/raw-node.ts';
import { RaftError, type Message } from '../../node/raft/types.ts';
import { Network, enc, entry, msg, seededRng } from './helpers/network.ts';

const code = (e: unknown) => (e instanceof RaftError ? e.code : String(e));

test('MemoryStorage: compaction keeps term(firstIndex - 1); compacted reads throw COMPACTED', (t) => {
  const s = new MemoryStorage({ voters: ['a'], learners: [] });
  s.append([entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)]);
  s.createSnapshot(3, { voters: ['a'], learners: [] }, enc('img'));
  s.compact(3);
  t.is(s.firstIndex(), 4);
  t.is(s.lastIndex(), 4);
  t.is(s.term(3), 2);
  t.is(code(t.throws(() => s.term(2))), 'COMPACTED');
  t.is(code(t.throws(() => s.entries(3, 5, 100))), 'COMPACTED');
  t.is(code(t.throws(() => s.term(5))), 'UNAVAILABLE');
  t.deepEqual(s.entries(4, 5, 100).map((e) => e.index), [4]);
  t.is(s.snapshot().meta.index, 3);
  // append truncates at the first new index
  s.append([entry(4, 3), entry(5, 3)]);
  t.deepEqual([s.term(4), s.term(5)], [3, 3]);
  t.is(code(t.throws(() => s.append([entry(9, 3)]))), 'UNAVAILABLE');
});

test('a follower behind the compacted log gets a snapshot, installs it, then replicates normally', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  for (let i = 0; i < 10; i++) net.propose('a', `v${i}`);
  const snap = net.compact('a');
  t.is(snap.meta.index, 11);
  net.heal();
  net.tickAll(3);
  const c = net.get('c');
  t.is(c.installed.length, 1);
  t.is(c.installed[0]!.meta.index, 11);
  t.deepEqual(net.appliedData('c'), Array.from({ length: 10 }, (_, i) => `v${i}`));
  t.is(c.node.status().applied, 11);
  t.deepEqual(c.node.status().conf.voters, ['a', 'b', 'c']);
  net.propose('a', 'after');
  net.tickAll(1);
  t.is(net.appliedData('c').at(-1), 'after');
  t.is(net.raw('a').status().progress!['c']!.state, 'replicate');
  t.is(net.log.filter((m) => m.type === 'snap').length, 1, 'no snapshot loop');
});

test('the leader pauses a peer in snapshot state until reportSnapshot', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  for (let i = 0; i < 3; i++) net.propose('a', `v${i}`);
  net.compact('a');
  net.heal();
  // Lose every snapshot message: the peer stays paused.
  net.filter = (m) => m.type === 'snap';
  net.tickAll(3);
  t.is(net.raw('a').status().progress!['c']!.state, 'snapshot');
  const mark = net.log.length;
  net.tickAll(5);
  t.is(net.raw('a').status().progress!['c']!.state, 'snapshot');
  t.is(net.log.slice(mark).filter((m) => m.to === 'c' && (m.type === 'app' || m.type === 'snap')).length, 0);
  net.raw('a').reportSnapshot('c', false);
  t.is(net.raw('a').status().progress!['c']!.state, 'probe');
  net.heal();
  net.tickAll(3);
  t.deepEqual(net.appliedData('c'), ['v0', 'v1', 'v2']);
});

test('a snapshot at or below the commit index is not installed', (t) => {
  const s = new MemoryStorage({ voters: ['a', 'b'], learners: [] });
  s.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
  s.setHardState({ term: 1, vote: null, commit: 3 });
  const n = new RawNode({ id: 'b', storage: s, rng: seededRng(1), applied: 3 });
  const snapshot = { meta: { index: 2, term: 1, conf: { voters: ['a', 'b'], learners: [] } }, data: enc('[]') };
  n.step(msg({ type: 'snap', from: 'a', to: 'b', term: 1, snapshot }));
  const rd = n.ready();
  t.is(rd.snapshot, undefined);
  t.like(rd.messages[0], { type: 'appResp', index: 3 });
});

test('a snapshot whose last entry we hold only fast-forwards commit (no install, log kept)', (t) => {
  const s = new MemoryStorage({ voters: ['a', 'b'], learners: [] });
  s.append([entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)]);
  s.setHardState({ term: 1, vote: null, commit: 1 });
  const n = new RawNode({ id: 'b', storage: s, rng: seededRng(1) });
  const snapshot = { meta: { index: 3, term: 1, conf: { voters: ['a', 'b'], learners: [] } }, data: enc('[]') };
  n.step(msg({ type: 'snap', from: 'a', to: 'b', term: 1, snapshot }));
  const rd = n.ready();
  t.is(rd.snapshot, undefined);
  t.is(n.status().commit, 3);
  t.is(n.status().lastIndex, 4);
});

test('after installing a snapshot, conflict checks use the snapshot point', (t) => {
  const s = new MemoryStorage({ voters: ['a', 'b'], learners: [] });
  s.append([entry(1, 1), entry(2, 1)]);
  s.setHardState({ term: 2, vote: null, commit: 0 });
  const n = new RawNode({ id: 'b', storage: s, rng: seededRng(1) });
  const snapshot = { meta: { index: 5, term: 2, conf: { voters: ['a', 'b', 'x'], learners: [] } }, data: enc('[]') };
  n.step(msg({ type: 'snap', from: 'a', to: 'b', term: 2, snapshot }));
  const rd = n.ready();
  t.is(rd.snapshot?.meta.index, 5);
  t.deepEqual(rd.committedEntries, []);
  t.like(rd.messages[0], { type: 'appResp', index: 5, reject: false });
  s.applySnapshot(rd.snapshot!);
  s.setHardState(rd.hardState!);
  n.advance();
  t.is(n.status().applied, 5);
  t.deepEqual(n.status().conf.voters, ['a', 'b', 'x']);
  // Wrong term at the snapshot point: rejected; right term: accepted.
  n.step(msg({ type: 'app', from: 'a', to: 'b', term: 2, index: 5, logTerm: 1, entries: [entry(6, 2)] }));
  n.step(msg({ type: 'app', from: 'a', to: 'b', term: 2, index: 5, logTerm: 2, entries: [entry(6, 2)] }));
  const rd2 = n.ready();
  t.like(rd2.messages[0], { type: 'appResp', reject: true });
  t.like(rd2.messages[1], { type: 'appResp', reject: false, index: 6 });
});

test('a node restarts from a compacted storage with the snapshot conf', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  for (let i = 0; i < 4; i++) net.propose('a', `v${i}`);
  net.compact('b');
  net.restart('b');
  const st = net.raw('b').status();
  t.is(st.firstIndex, 6);
  t.is(st.applied, 5);
  t.deepEqual(st.conf.voters, ['a', 'b', 'c']);
  net.propose('a', 'more');
  net.tickAll(1);
  t.is(net.raw('b').status().commit, 6);
});

test('a restart from a log kept below its snapshot starts at the snapshot, not at the compaction point', (t) => {
  // Entries 6..10 stay for lagging followers while the snapshot is at 8 (snapshot-image.ts keeps
  // some below it); the stored commit lags at 6. Starting from the compaction point, the core
  // took 5 for applied and handed entry 6 out again over a state that already holds it.
  const s = new MemoryStorage({ voters: ['a'], learners: [] });
  s.append([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => entry(i, 1, `v${i}`)));
  s.createSnapshot(8, { voters: ['a'], learners: [] }, enc('img'));
  s.compact(5);
  s.setHardState({ term: 1, vote: 'a', commit: 6 });
  t.is(s.snapshotIndex(), 8);
  t.is(s.firstIndex(), 6);
  const raw = new RawNode({ id: 'a', storage: s, rng: seededRng(1) });
  const st = raw.status();
  t.is(st.firstIndex, 6, 'the kept entries are still there to send');
  t.is(st.applied, 8);
  t.is(st.commit, 8);
  const rd = raw.ready();
  t.deepEqual(rd.committedEntries.map((e) => e.index), [], 'nothing at or below the snapshot is applied again');
});

test('a lost snapshot is retried after a few election timeouts even without reportSnapshot', (t) => {
  const net = new Network(['a', 'b', 'c'], { electionTimeoutTicks: 10 });
  net.elect('a');
  net.isolate('c');
  for (let i = 0; i < 3; i++) net.propose('a', `v${i}`);
  net.compact('a');
  net.heal();
  let lost = 0;
  net.filter = (m) => m.type === 'snap' && lost++ === 0; // the first one only
  net.tickAll(40);
  t.is(lost, 2);
  t.deepEqual(net.appliedData('c'), ['v0', 'v1', 'v2']);
});

test('MemoryStorage refuses to compact past its snapshot (that would loop snapshots)', (t) => {
  const s = new MemoryStorage({ voters: ['a'], learners: [] });
  s.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
  s.createSnapshot(2, { voters: ['a'], learners: [] }, enc('x'));
  t.is(code(t.throws(() => s.compact(3))), 'UNAVAILABLE');
  t.notThrows(() => s.compact(2));
});

test('a snapshot installed after the leader compacted further leads straight to a newer snapshot', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  for (let i = 0; i < 3; i++) net.propose('a', `v${i}`);
  const s1 = net.compact('a');
  net.heal();
  // Hold the first snapshot in flight while the leader moves on and compacts again.
  let held: Message | undefined;
  net.filter = (m) => (m.type === 'snap' ? ((held ??= m), true) : false);
  for (let i = 0; i < 10 && held === undefined; i++) net.tickAll(1);
  t.is(held?.snapshot?.meta.index, s1.meta.index);
  net.filter = (m) => m.to === 'c' || m.from === 'c';
  for (let i = 0; i < 3; i++) net.propose('a', `w${i}`);
  const s2 = net.compact('a');
  t.true(s2.meta.index > s1.meta.index);
  net.heal();
  const mark = net.log.length;
  net.queue.push(held!);
  net.deliver();
  const snaps = net.log.slice(mark).filter((m) => m.type === 'snap');
  t.deepEqual(snaps.map((m) => m.snapshot!.meta.index), [s1.meta.index, s2.meta.index]);
  net.tickAll(2);
  t.deepEqual(net.appliedData('c'), ['v0', 'v1', 'v2', 'w0', 'w1', 'w2']);
});

test('status().conf stays the membership as of applied until a received snapshot is installed', (t) => {
  // A driver snapshots with (status().applied, status().conf). A snapshot stepped in while the
  // driver was busy must not show its membership before the driver installed it and called
  // advance(): a snapshot at the old applied index would otherwise record the wrong voters.
  const s = new MemoryStorage({ voters: ['a', 'b'], learners: [] });
  s.append([entry(1, 1), entry(2, 1)]);
  s.setHardState({ term: 2, vote: null, commit: 2 });
  const n = new RawNode({ id: 'b', storage: s, rng: seededRng(1), applied: 2 });
  const snapshot = { meta: { index: 9, term: 2, conf: { voters: ['a', 'b', 'x'], learners: ['y'] } }, data: enc('[]') };
  n.step(msg({ type: 'snap', from: 'a', to: 'b', term: 2, snapshot }));
  t.deepEqual(n.status().conf, { voters: ['a', 'b'], learners: [] });
  t.is(n.status().applied, 2);
  const rd = n.ready();
  t.is(rd.snapshot?.meta.index, 9);
  t.deepEqual(n.status().conf, { voters: ['a', 'b'], learners: [] }, 'not installed yet');
  s.applySnapshot(rd.snapshot!);
  s.setHardState(rd.hardState!);
  n.advance();
  t.is(n.status().applied, 9);
  t.deepEqual(n.status().conf, { voters: ['a', 'b', 'x'], learners: ['y'] });
});
