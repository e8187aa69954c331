// Bounds: uncommitted bytes, entry and message size, committed bytes per Ready, proposal refusals.
import test from 'ava';
import { RaftError } from '../../node/raft/types.ts';
import { Network, enc, msg } from './helpers/network.ts';

const code = (e: unknown) => (e instanceof RaftError ? e.code : String(e));

test('proposals beyond maxUncommittedBytes are refused with UNCOMMITTED_FULL, accepted again after commit', (t) => {
  const net = new Network(['a', 'b', 'c'], { maxUncommittedBytes: 100 });
  net.elect('a');
  net.isolate('b');
  net.isolate('c');
  const a = net.raw('a');
  for (let i = 0; i < 10; i++) a.propose(new Uint8Array(10));
  t.is(code(t.throws(() => a.propose(new Uint8Array(1)))), 'UNCOMMITTED_FULL');
  net.heal();
  net.tickAll(3);
  t.is(a.status().commit, 11);
  t.notThrows(() => a.propose(new Uint8Array(10)));
});

test('an entry larger than maxMsgBytes is refused with TOO_LARGE', (t) => {
  const net = new Network(['a'], { maxMsgBytes: 64 });
  net.elect('a');
  t.is(code(t.throws(() => net.raw('a').propose(new Uint8Array(65)))), 'TOO_LARGE');
  t.notThrows(() => net.raw('a').propose(new Uint8Array(64)));
});

test('proposals on a follower get NOT_LEADER', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  t.is(code(t.throws(() => net.raw('b').propose(enc('x')))), 'NOT_LEADER');
});

test('committed entries are handed out at most maxCommittedBytesPerReady per Ready', (t) => {
  const net = new Network(['a'], { maxCommittedBytesPerReady: 30 });
  net.elect('a');
  for (let i = 0; i < 10; i++) net.raw('a').propose(new Uint8Array(10));
  net.deliver();
  const sizes = net.get('a').readies.map((rd) => rd.committedEntries.length).filter((n) => n > 0);
  t.is(sizes.reduce((x, y) => x + y, 0), 11);
  t.true(sizes.every((n) => n <= 3), sizes.join(','));
  t.is(net.raw('a').status().applied, 11);
});

test('app messages respect maxMsgBytes (a single larger entry still goes alone)', (t) => {
  const net = new Network(['a', 'b', 'c'], { maxMsgBytes: 25 });
  net.elect('a');
  const a = net.raw('a');
  for (let i = 0; i < 12; i++) a.propose(new Uint8Array(10));
  net.deliver();
  const apps = net.log.filter((m) => m.type === 'app' && m.entries.length > 0 && m.from === 'a');
  for (const m of apps) {
    const bytes = m.entries.reduce((s, e) => s + e.data.byteLength, 0);
    t.true(bytes <= 25 || m.entries.length === 1, `${bytes} bytes in ${m.entries.length} entries`);
  }
  t.is(net.raw('b').status().applied, 13);
});

test('the inflight window never exceeds maxInflightMsgs unacknowledged apps per follower', (t) => {
  const net = new Network(['a', 'b', 'c'], { maxInflightMsgs: 4, maxMsgBytes: 1 });
  net.elect('a');
  const a = net.raw('a');
  // b never answers: its window fills and stays full.
  net.filter = (m) => m.from === 'b';
  const mark = net.log.length;
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 10; i++) a.propose(new Uint8Array(1));
    net.deliver();
  }
  const toB = net.log.slice(mark).filter((m) => m.type === 'app' && m.to === 'b' && m.entries.length > 0);
  t.is(toB.length, 4);
  t.is(a.status().commit, 51, 'c keeps the quorum going');
});

test('entries of an earlier term committing do not free the new leader\'s uncommitted budget', (t) => {
  // Regression: the budget was reduced by every applied entry, including ones proposed by an
  // earlier leader and never counted, so a new leader could exceed maxUncommittedBytes.
  const net = new Network(['a', 'b', 'c'], { maxUncommittedBytes: 100, checkQuorum: false });
  net.elect('a');
  net.isolate('c');
  net.filter = (m) => m.type === 'appResp' && m.to === 'a';
  for (let i = 0; i < 5; i++) net.raw('a').propose(new Uint8Array(10)); // 2..6, on a and b only
  net.deliver();
  t.is(net.raw('b').status().lastIndex, 6);
  t.is(net.raw('b').status().commit, 1);
  net.heal();
  net.isolate('a');
  net.filter = (m) => m.type === 'appResp' && m.to === 'b'; // b's entries stay uncommitted
  net.elect('b');
  const b = net.raw('b');
  t.is(b.status().role, 'leader');
  for (let i = 0; i < 10; i++) b.propose(new Uint8Array(10)); // 8..17: 100 bytes, the whole budget
  net.deliver();
  t.is(code(t.throws(() => b.propose(new Uint8Array(1)))), 'UNCOMMITTED_FULL');
  // c acknowledges through b's no-op (7): 2..7 commit, 50 bytes of term 1 and 0 of term 2.
  b.step(msg({ type: 'appResp', from: 'c', to: 'b', term: b.status().term, index: 7 }));
  net.drainAll();
  t.is(b.status().commit, 7);
  t.is(b.status().applied, 7);
  t.is(code(t.throws(() => b.propose(new Uint8Array(1)))), 'UNCOMMITTED_FULL', 'still 100 bytes of this term uncommitted');
  b.step(msg({ type: 'appResp', from: 'c', to: 'b', term: b.status().term, index: 12 }));
  net.drainAll();
  t.is(b.status().commit, 12);
  t.notThrows(() => b.propose(new Uint8Array(50)), '50 bytes freed by committing 8..12');
  t.is(code(t.throws(() => b.propose(new Uint8Array(1)))), 'UNCOMMITTED_FULL');
});

test('the uncommitted budget is freed when entries commit, not when the driver applies them', (t) => {
  const net = new Network(['a'], { maxUncommittedBytes: 100, maxCommittedBytesPerReady: 10 });
  net.elect('a');
  const a = net.raw('a');
  for (let i = 0; i < 10; i++) a.propose(new Uint8Array(10));
  t.is(code(t.throws(() => a.propose(new Uint8Array(1)))), 'UNCOMMITTED_FULL');
  net.drain('a'); // persists 2..11; advance() counts the leader's copy: all commit
  t.is(a.status().commit, 11);
  t.true(a.status().applied < 11, 'applying lags (maxCommittedBytesPerReady)');
  t.notThrows(() => a.propose(new Uint8Array(100)));
});

test('a new leader starts with an empty uncommitted budget, whatever its log holds', (t) => {
  const net = new Network(['a', 'b', 'c'], { maxUncommittedBytes: 100, electionTimeoutTicks: 10 });
  net.elect('a');
  net.isolate('b');
  net.isolate('c');
  const a = net.raw('a');
  for (let i = 0; i < 10; i++) a.propose(new Uint8Array(10));
  net.deliver();
  t.is(code(t.throws(() => a.propose(new Uint8Array(1)))), 'UNCOMMITTED_FULL');
  net.tickAll(21); // check-quorum: a steps down
  t.is(a.status().role, 'follower');
  t.is(code(t.throws(() => a.propose(new Uint8Array(1)))), 'NOT_LEADER');
  net.heal();
  net.filter = (m) => m.type === 'appResp'; // nothing commits: the old 100 bytes stay uncommitted
  net.tickAll(30);
  const l = net.leader();
  t.not(l, null);
  t.notThrows(() => net.raw(l!).propose(new Uint8Array(100)));
  t.is(code(t.throws(() => net.raw(l!).propose(new Uint8Array(1)))), 'UNCOMMITTED_FULL');
});
