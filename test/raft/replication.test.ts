// Raft paper §5.3 (log replication): consistency check, conflicts, backoff, batching, pipelining.
import test from 'ava';
import { MemoryStorage } from '../../node/raft/memory-storage.ts';
import { RawNode } from '../../node/raft/raw-node.ts';
import { Network, enc, entry, msg, seededRng } from './helpers/network.ts';

/** The core's own setting of sendCommitOnlyApps (the test network turns it on unless told). */
const CORE_DEFAULT = { sendCommitOnlyApps: undefined };

function follower(entries: [number, number][], term: number, commit = 0): RawNode {
  const s = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
  s.append(entries.map(([i, tm]) => entry(i, tm)));
  s.setHardState({ term, vote: null, commit });
  return new RawNode({ id: 'b', storage: s, rng: seededRng(1) });
}

test('a proposal commits on a majority and is applied everywhere in order', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  for (let i = 0; i < 10; i++) net.propose('a', `x${i}`);
  for (const id of ['a', 'b', 'c']) {
    t.deepEqual(net.appliedData(id), Array.from({ length: 10 }, (_, i) => `x${i}`), id);
    t.is(net.raw(id).status().commit, 11);
  }
});

test('commit with one follower down; the follower catches up when back', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  net.propose('a', 'p1');
  t.is(net.raw('a').status().commit, 2);
  t.is(net.raw('c').status().commit, 1);
  net.heal();
  net.tickAll(2);
  t.deepEqual(net.appliedData('c'), ['p1']);
});

test('the consistency check rejects an app whose prev entry does not match, with a hint', (t) => {
  const n = follower([[1, 1], [2, 1]], 2);
  n.step(msg({ type: 'app', from: 'a', to: 'b', term: 2, index: 3, logTerm: 2, entries: [entry(4, 2)] }));
  const m = n.ready().messages[0]!;
  t.like(m, { type: 'appResp', reject: true, index: 3, rejectHint: 2, logTerm: 1 });
  t.is(n.status().lastIndex, 2);
});

test('a real conflict truncates the follower log from the conflicting entry', (t) => {
  const n = follower([[1, 1], [2, 1], [3, 1]], 2);
  n.step(msg({ type: 'app', from: 'a', to: 'b', term: 2, index: 1, logTerm: 1, entries: [entry(2, 2)] }));
  const rd = n.ready();
  t.deepEqual(rd.entries.map((e) => [e.index, e.term]), [[2, 2]]);
  t.like(rd.messages[0], { type: 'appResp', reject: false, index: 2 });
  t.is(n.status().lastIndex, 2);
});

test('a stale or duplicate app never truncates (no conflict, entries beyond stay)', (t) => {
  const n = follower([[1, 1], [2, 1], [3, 1]], 1);
  n.step(msg({ type: 'app', from: 'a', to: 'b', term: 1, index: 0, logTerm: 0, entries: [entry(1, 1), entry(2, 1)] }));
  const rd = n.ready();
  t.is(rd.entries.length, 0);
  t.like(rd.messages[0], { type: 'appResp', index: 2, reject: false });
  t.is(n.status().lastIndex, 3);
});

test('an app below the commit index is answered with the commit index', (t) => {
  const n = follower([[1, 1], [2, 1], [3, 1]], 1, 3);
  n.step(msg({ type: 'app', from: 'a', to: 'b', term: 1, index: 1, logTerm: 1, entries: [entry(2, 1)] }));
  t.like(n.ready().messages[0], { type: 'appResp', index: 3, reject: false });
});

test('follower commit follows the leader but never beyond what the message proves', (t) => {
  const n = follower([[1, 1], [2, 1], [3, 1]], 1);
  n.step(msg({ type: 'app', from: 'a', to: 'b', term: 1, index: 1, logTerm: 1, entries: [], commit: 3 }));
  t.is(n.status().commit, 1);
});

test('fast backoff: the leader skips a whole conflicting term per round trip', (t) => {
  // a and b hold k0..k4 at 2..6 in term 2; c holds 50 junk entries of term 1 at 2..51.
  const net = new Network(['a', 'b', 'c'], { maxMsgBytes: 2 });
  for (const id of ['a', 'b']) {
    const s = net.get(id).storage;
    s.append([entry(1, 1), ...Array.from({ length: 5 }, (_, i) => entry(2 + i, 2, `k${i}`))]);
    s.setHardState({ term: 2, vote: null, commit: 1 });
  }
  const cs = net.get('c').storage;
  cs.append([entry(1, 1), ...Array.from({ length: 50 }, (_, i) => entry(2 + i, 1, 'junk'))]);
  cs.setHardState({ term: 2, vote: null, commit: 1 });
  for (const id of ['a', 'b', 'c']) net.restart(id);
  net.elect('a');
  net.tickAll(3);
  const rejects = net.log.filter((m) => m.type === 'appResp' && m.from === 'c' && m.reject).length;
  t.true(rejects <= 1, `rejections: ${rejects}`);
  t.deepEqual(net.appliedData('c'), ['k0', 'k1', 'k2', 'k3', 'k4']);
  t.is(net.raw('c').status().lastIndex, net.raw('a').status().lastIndex);
});

test('batching: proposals made before ready() travel in one app message per follower', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.raw('a');
  for (let i = 0; i < 100; i++) a.propose(enc(`v${i}`));
  const rd = net.drain('a')!;
  const apps = rd.messages.filter((m) => m.type === 'app');
  t.is(apps.length, 2);
  t.is(apps[0]!.entries.length, 100);
  net.deliver();
  t.is(net.appliedData('c').length, 100);
});

test('maxMsgBytes splits a batch; replicate state pipelines up to maxInflightMsgs', (t) => {
  const net = new Network(['a', 'b', 'c'], { maxMsgBytes: 10, maxInflightMsgs: 3 });
  net.elect('a');
  const a = net.raw('a');
  for (let i = 0; i < 20; i++) a.propose(enc('12345')); // 2 entries per message
  const rd = net.drain('a')!;
  const toB = rd.messages.filter((m) => m.type === 'app' && m.to === 'b');
  t.is(toB.length, 3, 'window of 3 messages');
  for (const m of toB) t.is(m.entries.length, 2);
  // Acks free the window and the rest flows; everything commits.
  net.deliver();
  t.is(net.appliedData('b').length, 20);
  t.is(a.status().commit, 21);
});

test('a follower in probe state gets one app at a time until it answers', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.isolate('c');
  net.propose('a', 'x');
  net.raw('a').reportUnreachable('c');
  t.is(net.raw('a').status().progress!['c']!.state, 'probe');
  net.queue = [];
  const a = net.raw('a');
  a.propose(enc('y'));
  a.propose(enc('z'));
  const rd1 = net.drain('a')!;
  a.propose(enc('w'));
  const rd2 = net.drain('a')!;
  const toC = [...rd1.messages, ...rd2.messages].filter((m) => m.type === 'app' && m.to === 'c');
  t.is(toC.length, 1);
});

/**
 * A probe is sent again only on an answer to a heartbeat that left after it (on one ordered
 * connection the probe arrived first, so its answer is due). A follower reconnecting behind a
 * slow link flushed ten answers to earlier heartbeats at once, and each resent a 100 KB probe.
 */
function probing(clock: boolean) {
  let nowMs = 1_000;
  const net = new Network(['a', 'b', 'c'], clock ? { clockMs: () => nowMs, staleAfterMs: 1_000 } : {});
  net.elect('a');
  net.isolate('c');
  net.propose('a', 'x');
  const a = net.raw('a');
  a.reportUnreachable('c');
  net.queue = [];
  nowMs = 2_000;
  a.propose(enc('y'));
  const probe = net.drain('a')!.messages.filter((m) => m.type === 'app' && m.to === 'c');
  const term = a.status().term;
  const answer = (stampMs: number | undefined) => {
    a.step(msg({ type: 'heartbeatResp', from: 'c', to: 'a', term, ...(stampMs !== undefined ? { stamp: stampMs } : {}) }));
    return (net.drain('a')?.messages ?? []).filter((m) => m.type === 'app' && m.to === 'c').length;
  };
  return { probe, answer, setNow: (ms: number) => { nowMs = ms; } };
}

test('a probe out is resent on an answer to a heartbeat sent after it, not on answers to earlier ones', (t) => {
  const p = probing(true);
  t.is(p.probe.length, 1);
  t.is(p.probe[0]!.stamp, 2_000);
  const early = Array.from({ length: 10 }, (_, k) => p.answer(1_500 + k * 50));
  t.deepEqual(early, Array(10).fill(0), 'answers to heartbeats older than the probe resend nothing');
  p.setNow(2_100);
  t.is(p.answer(2_050), 1, 'an answer to a heartbeat sent after the probe resends it once');
  t.is(p.answer(2_060), 0, 'the resent probe (stamped 2,100) waits in turn');
});

test('without stamps every heartbeat answer resends the probe (as before clocks)', (t) => {
  const p = probing(false);
  t.is(p.probe.length, 1);
  t.is(p.probe[0]!.stamp, undefined);
  t.deepEqual([p.answer(undefined), p.answer(undefined)], [1, 1]);
});

test('a whole inflight window lost in replicate state is recovered: no window slot leaks', (t) => {
  const net = new Network(['a', 'b', 'c'], { maxInflightMsgs: 2, maxMsgBytes: 1 });
  net.elect('a');
  const a = net.raw('a');
  t.is(a.status().progress!['b']!.state, 'replicate');
  // Every app to b is lost: its window fills with messages that will never be acknowledged.
  net.filter = (m) => m.type === 'app' && m.to === 'b';
  for (let i = 0; i < 6; i++) a.propose(new Uint8Array(1));
  net.deliver();
  t.is(a.status().commit, 7, 'c keeps the quorum');
  net.filter = null;
  // Heartbeat responses let one app through; b's rejection drops it to probe and resends.
  net.tickAll(4);
  t.is(net.raw('b').status().lastIndex, 7);
  t.is(a.status().progress!['b']!.match, 7);
  t.is(a.status().progress!['b']!.state, 'replicate');
  for (let i = 0; i < 4; i++) a.propose(new Uint8Array(1));
  net.deliver();
  t.is(a.status().progress!['b']!.match, 11, 'the window is whole again');
});

test('a commit that moves while proposals are pending rides their app: one app per follower per batch', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.propose('a', 'p0');
  net.log = [];
  // Batch 1 goes out; its acks arrive while batch 2 is already proposed.
  net.raw('a').propose(new TextEncoder().encode('p1'));
  net.drainAll();
  net.deliverWhere((m) => m.type === 'app'); // followers append p1 and queue their acks
  net.raw('a').propose(new TextEncoder().encode('p2'));
  // The acks reach the leader before its next Ready (as when they arrive during its log write).
  const acks = net.queue.filter((m) => m.type === 'appResp');
  net.queue = net.queue.filter((m) => m.type !== 'appResp');
  for (const m of acks) net.raw('a').step(m);
  net.drainAll(); // p1 is committed; p2 and the new commit leave together
  const apps = [...net.log, ...net.queue].filter((m) => m.type === 'app' && m.from === 'a');
  const second = apps.filter((m) => m.type === 'app' && m.entries.length > 0 && m.entries[0]!.index === 4);
  t.is(second.length, 2);
  t.true(second.every((m) => m.type === 'app' && m.commit === 3), 'the app carrying p2 carries p1\'s commit');
  t.false(apps.some((m) => m.type === 'app' && m.entries.length === 0), 'no app of its own for the commit');
  net.deliver();
  for (const id of ['a', 'b', 'c']) t.deepEqual(net.appliedData(id), ['p0', 'p1', 'p2'], id);
});

test('with sendCommitOnlyApps a commit with nothing else to send reaches the followers at once (an empty app)', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.log = [];
  net.propose('a', 'p1');
  t.true(net.log.some((m) => m.type === 'app' && m.from === 'a' && m.entries.length === 0 && m.commit === 2));
  for (const id of ['b', 'c']) t.is(net.raw(id).status().commit, 2, id);
});

test('by default a lone write costs one app and one ack per follower; the followers learn its commit at the next heartbeat', (t) => {
  const net = new Network(['a', 'b', 'c'], CORE_DEFAULT);
  net.elect('a');
  net.tickAll(); // the no-op's commit reaches the followers with a heartbeat
  net.deliver();
  for (const id of ['b', 'c']) t.is(net.raw(id).status().commit, 1, `${id} knows the no-op committed`);
  net.log = [];
  net.propose('a', 'p1');
  const apps = net.log.filter((m) => m.type === 'app');
  t.is(apps.length, 2, 'one app per follower');
  t.true(apps.every((m) => m.entries.length === 1), 'no empty app for the commit');
  t.is(net.log.filter((m) => m.type === 'appResp').length, 2, 'one ack per follower');
  t.deepEqual(net.appliedData('a'), ['p1'], 'the leader applied it');
  for (const id of ['b', 'c']) t.is(net.raw(id).status().commit, 1, `${id} has not heard of the commit yet`);
  net.tick('a');
  net.deliver();
  t.true(net.log.some((m) => m.type === 'heartbeat' && m.commit === 2), 'the heartbeat carries it');
  for (const id of ['a', 'b', 'c']) t.deepEqual(net.appliedData(id), ['p1'], id);
});

test('by default a commit rides the next write\'s app: followers apply each write when the next one arrives', (t) => {
  const net = new Network(['a', 'b', 'c'], CORE_DEFAULT);
  net.elect('a');
  for (let i = 1; i <= 5; i++) net.propose('a', `p${i}`);
  const apps = net.log.filter((m) => m.type === 'app' && m.from === 'a');
  t.false(apps.some((m) => m.entries.length === 0 && m.commit > 1), 'no app of its own for a commit');
  for (const id of ['b', 'c']) t.deepEqual(net.appliedData(id), ['p1', 'p2', 'p3', 'p4'], `${id} applied all but the last`);
  net.tick('a');
  net.deliver();
  for (const id of ['b', 'c']) t.deepEqual(net.appliedData(id), ['p1', 'p2', 'p3', 'p4', 'p5'], id);
});
