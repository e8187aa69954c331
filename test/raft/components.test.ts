// Unit tests of the core's parts: quorum math, inflight window, progress, unstable log,
// raft log queries, invariants, the uncommitted budget.
import test from 'ava';
import { Inflights } from '../../node/raft/inflights.ts';
import { InvariantError } from '../../node/raft/invariants.ts';
import { MemoryStorage } from '../../node/raft/memory-storage.ts';
import { Progress } from '../../node/raft/progress.ts';
import { committedIndex, hasQuorum, voteResult } from '../../node/raft/quorum.ts';
import { Raft } from '../../node/raft/raft.ts';
import { RaftLog } from '../../node/raft/raft-log.ts';
import { Uncommitted } from '../../node/raft/uncommitted.ts';
import { Unstable } from '../../node/raft/unstable.ts';
import { entry, seededRng } from './helpers/network.ts';
import { encodeConfChangeEntry } from '../../node/raft/conf-change-codec.ts';
import { EntryType } from '../../node/raft/types.ts';

test('quorum: committed index is the majority-th highest match', (t) => {
  const m = new Map([['a', 5], ['b', 3], ['c', 9], ['d', 1], ['e', 4]]);
  t.is(committedIndex(['a', 'b', 'c', 'd', 'e'], (id) => m.get(id)!), 4);
  t.is(committedIndex(['a', 'b', 'c'], (id) => m.get(id)!), 5);
  t.is(committedIndex(['a'], (id) => m.get(id)!), 5);
  t.is(committedIndex(['a', 'd'], (id) => m.get(id)!), 1);
  // Against the definition (the q-th largest match), seeded random voter sets of 1..9.
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let round = 0; round < 500; round++) {
    const ids = Array.from({ length: 1 + rnd(9) }, (_, i) => `v${i}`);
    const match = new Map(ids.map((id) => [id, rnd(6)]));
    const sorted = ids.map((id) => match.get(id)!).sort((a, b) => b - a);
    t.is(committedIndex(ids, (id) => match.get(id)!), sorted[Math.floor(ids.length / 2)]!, `round ${round}`);
  }
  t.is(committedIndex([], () => 9), 0);
});

test('quorum: vote results and majority sets', (t) => {
  const v = ['a', 'b', 'c', 'd'];
  t.is(voteResult(v, new Map([['a', true], ['b', true]])), 'pending');
  t.is(voteResult(v, new Map([['a', true], ['b', true], ['c', true]])), 'won');
  t.is(voteResult(v, new Map([['a', false], ['b', false]])), 'lost');
  t.true(hasQuorum(['a', 'b', 'c'], new Set(['a', 'c', 'zz'])));
  t.false(hasQuorum(['a', 'b', 'c'], new Set(['a', 'zz'])));
});

test('inflights: bounded window freed by acknowledgement', (t) => {
  const f = new Inflights(3);
  f.add(2);
  f.add(4);
  f.add(6);
  t.true(f.full());
  t.throws(() => f.add(8));
  f.freeLE(4);
  t.is(f.count(), 1);
  f.freeFirstOne();
  t.is(f.count(), 0);
});

test('progress: probe pauses after one send, replicate pipelines, stale rejections are ignored', (t) => {
  const p = new Progress(11, 2, false);
  t.false(p.isPaused());
  p.sentEntries(12, 2);
  t.true(p.isPaused(), 'probe: one at a time');
  t.false(p.maybeDecrTo(5, 3), 'rejection of a message we did not send last');
  t.true(p.maybeDecrTo(10, 7));
  t.is(p.next, 8);
  t.true(p.maybeUpdate(8));
  p.becomeReplicate();
  p.sentEntries(10, 2);
  p.sentEntries(12, 2);
  t.true(p.isPaused());
  t.is(p.next, 13);
  t.false(p.maybeDecrTo(7, 0), 'at or below match: stale');
  p.becomeSnapshot(20);
  t.true(p.isPaused());
  p.becomeProbe();
  t.is(p.next, 21);
});

test('unstable: append, truncate, stabilize only what was not replaced', (t) => {
  const u = new Unstable(5);
  u.truncateAndAppend([entry(5, 1), entry(6, 1), entry(7, 1)]);
  u.truncateAndAppend([entry(7, 2), entry(8, 2)]);
  t.deepEqual(u.entries.map((e) => `${e.index}@${e.term}`), ['5@1', '6@1', '7@2', '8@2']);
  u.stableTo(7, 1); // that 7 was replaced: ignore
  t.is(u.offset, 5);
  u.stableTo(6, 1);
  t.is(u.offset, 7);
  u.truncateAndAppend([entry(4, 3)]);
  t.is(u.offset, 4);
  t.deepEqual(u.entries.map((e) => e.index), [4]);
});

test('raft log: terms across storage and unstable, findConflictByTerm, size-limited slices', (t) => {
  const s = new MemoryStorage({ voters: ['a'], learners: [] });
  s.append([entry(1, 1, 'aa'), entry(2, 1, 'bb'), entry(3, 2, 'cc')]);
  const log = new RaftLog(s);
  log.append([entry(4, 3, 'dd'), entry(5, 3, 'ee')]);
  t.is(log.term(3), 2);
  t.is(log.term(5), 3);
  t.is(log.term(6), undefined);
  t.deepEqual(log.findConflictByTerm(5, 2), { index: 3, term: 2 });
  t.deepEqual(log.findConflictByTerm(5, 1), { index: 2, term: 1 });
  t.deepEqual(log.slice(1, 6, 5).map((e) => e.index), [1, 2]);
  t.deepEqual(log.slice(3, 6, 4).map((e) => e.index), [3, 4]);
  t.deepEqual(log.slice(5, 6, 0).map((e) => e.index), [5], 'always at least one');
  t.true(log.isUpToDate(5, 3));
  t.false(log.isUpToDate(4, 3));
  t.true(log.isUpToDate(1, 4));
});

function raft(): Raft {
  const s = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
  return new Raft({ id: 'a', storage: s, rng: seededRng(1) });
}

test('invariant: one vote per term', (t) => {
  const r = raft();
  r.becomeFollower(1, null);
  r.setVote('b');
  const e = t.throws(() => r.setVote('c'), { instanceOf: InvariantError });
  t.is(e!.invariant, 'one vote per term');
});

test('invariant: term never decreases', (t) => {
  const r = raft();
  r.becomeFollower(5, null);
  const e = t.throws(() => r.becomeFollower(4, null), { instanceOf: InvariantError });
  t.is(e!.invariant, 'term never decreases');
});

test('invariant: committed entries are never truncated; the leader only appends', (t) => {
  const s = new MemoryStorage({ voters: ['a'], learners: [] });
  s.append([entry(1, 1), entry(2, 1)]);
  const log = new RaftLog(s);
  log.commitTo(2);
  t.throws(() => log.append([entry(2, 2)]), { instanceOf: InvariantError });
  const log2 = new RaftLog(s);
  t.throws(() => log2.append([entry(2, 2)], true), { instanceOf: InvariantError, message: /leader never truncates/ });
  t.throws(() => log2.commitTo(3), { instanceOf: InvariantError, message: /commit <= last index/ });
  t.throws(() => log2.appliedTo(1), { instanceOf: InvariantError, message: /applied <= commit/ });
});

test('config is validated: rng required, heartbeat below election timeout', (t) => {
  const s = new MemoryStorage({ voters: ['a'], learners: [] });
  t.throws(() => new Raft({ id: 'a', storage: s, rng: seededRng(1), heartbeatTicks: 10, electionTimeoutTicks: 10 }));
  t.throws(() => new Raft({ id: 'a', storage: s, rng: undefined as unknown as () => number }));
});

test('invariant: commit never decreases (a snapshot at or below commit is never restored)', (t) => {
  const s = new MemoryStorage({ voters: ['a'], learners: [] });
  s.append([entry(1, 1), entry(2, 1)]);
  const log = new RaftLog(s);
  log.commitTo(2);
  const snap = { meta: { index: 2, term: 1, conf: { voters: ['a'], learners: [] } }, data: new Uint8Array(0) };
  t.throws(() => log.restore(snap), { instanceOf: InvariantError, message: /commit never decreases/ });
  const r = raft();
  r.checkInvariants();
  r.log.append([entry(1, 1)]);
  r.log.commitTo(1);
  r.checkInvariants();
  r.log.committed = 0; // what a bug would do
  t.throws(() => r.checkInvariants(), { instanceOf: InvariantError, message: /commit never decreases/ });
});

test('uncommitted budget: proposals are freed in index order as commit passes them', (t) => {
  const u = new Uncommitted();
  for (let i = 1; i <= 3000; i++) u.add(i, i % 3 === 0 ? 0 : 2);
  t.is(u.bytes, 4000);
  u.commitTo(1500);
  t.is(u.bytes, 2000);
  u.commitTo(1499); // commit never goes back; nothing changes
  t.is(u.bytes, 2000);
  u.commitTo(2998);
  t.is(u.bytes, 2, 'only 2999 is held (3000 has no payload)');
  u.commitTo(3000);
  t.is(u.bytes, 0);
  u.add(3001, 5);
  u.reset();
  t.is(u.bytes, 0);
});

test('a committed, unapplied conf change past several scan pages is still found (the log is read in pages)', (t) => {
  const s = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
  const big = 'x'.repeat(64 * 1024);
  const ents = Array.from({ length: 40 }, (_, i) => entry(i + 1, 1, big)); // ~2.5 MiB: three pages
  const cc = encodeConfChangeEntry({ type: 'remove', nodeId: 'c' }, { voters: ['a', 'b'], learners: [] });
  s.append([...ents, { index: 41, term: 1, type: EntryType.ConfChange, data: cc }]);
  s.setHardState({ term: 1, vote: null, commit: 41 });
  const r = new Raft({ id: 'a', storage: s, rng: seededRng(1) });
  t.true(r.hasUnappliedConfChanges());
  // Restarted with everything applied: the replay in pages applies the change.
  const again = new Raft({ id: 'a', storage: s, rng: seededRng(1), applied: 41 });
  t.false(again.hasUnappliedConfChanges());
  t.deepEqual(again.conf.voters, ['a', 'b']);
});
