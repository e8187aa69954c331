// Membership changes (dissertation §4): single-server changes through the log.
import test from 'ava';
import { MemoryStorage } from '../../node/raft/memory-storage.ts';
import { RaftError } from '../../node/raft/types.ts';
import { decodeConfChange, encodeConfChange } from '../../node/raft/conf-change-codec.ts';
import { Network, msg } from './helpers/network.ts';

/** The core's own setting of sendCommitOnlyApps (the test network turns it on unless told). */
const CORE_DEFAULT = { sendCommitOnlyApps: undefined };

const code = (e: unknown) => (e instanceof RaftError ? e.code : String(e));

/** Adds a fresh node with an empty storage (it learns membership from the log). */
function join(net: Network, id: string): void {
  net.add(id, new MemoryStorage());
}

test('conf change codec round-trips and rejects garbage with INVALID_CONF_CHANGE', (t) => {
  const cc = { type: 'addLearner' as const, nodeId: 'n4', context: '127.0.0.1:7001' };
  t.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  t.deepEqual(decodeConfChange(encodeConfChange({ type: 'remove', nodeId: 'x' })), { type: 'remove', nodeId: 'x' });
  t.is(code(t.throws(() => decodeConfChange(new Uint8Array([1, 2, 3])))), 'INVALID_CONF_CHANGE');
  t.is(code(t.throws(() => decodeConfChange(new TextEncoder().encode('{"t":"zap","n":"x"}')))), 'INVALID_CONF_CHANGE');
});

test('add a learner, let it catch up, promote it: it then counts in the quorum', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.propose('a', 'before');
  join(net, 'd');
  net.raw('a').proposeConfChange({ type: 'addLearner', nodeId: 'd' });
  net.deliver();
  net.tickAll(3);
  t.deepEqual(net.raw('a').status().conf, { voters: ['a', 'b', 'c'], learners: ['d'] });
  t.deepEqual(net.appliedData('d'), ['before']);
  t.deepEqual(net.raw('d').status().conf.learners, ['d']);
  // A learner never campaigns.
  net.isolate('d');
  net.tickAll(50);
  t.is(net.raw('d').status().role, 'follower');
  net.heal();
  net.tickAll(2);
  net.raw('a').proposeConfChange({ type: 'promote', nodeId: 'd' });
  net.deliver();
  t.deepEqual(net.raw('a').status().conf, { voters: ['a', 'b', 'c', 'd'], learners: [] });
  // 4 voters: quorum is 3. With b and c down, a + d cannot commit.
  net.isolate('b');
  net.isolate('c');
  net.propose('a', 'needs-three');
  t.false(net.appliedData('a').includes('needs-three'));
  net.heal();
  net.isolate('c');
  net.tickAll(2);
  t.true(net.appliedData('a').includes('needs-three'));
});

test('one change at a time: a second change before the first is applied gets CONF_CHANGE_PENDING', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  join(net, 'd');
  join(net, 'e');
  net.raw('a').proposeConfChange({ type: 'addLearner', nodeId: 'd' });
  t.is(code(t.throws(() => net.raw('a').proposeConfChange({ type: 'addLearner', nodeId: 'e' }))), 'CONF_CHANGE_PENDING');
  net.deliver();
  t.notThrows(() => net.raw('a').proposeConfChange({ type: 'addLearner', nodeId: 'e' }));
});

test('no change before the leader committed an entry of its term: NOT_READY', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.filter = (m) => m.type === 'appResp';
  net.elect('a');
  t.is(code(t.throws(() => net.raw('a').proposeConfChange({ type: 'addLearner', nodeId: 'd' }))), 'NOT_READY');
  t.is(code(t.throws(() => net.raw('b').proposeConfChange({ type: 'addLearner', nodeId: 'd' }))), 'NOT_LEADER');
});

test('invalid changes are refused with INVALID_CONF_CHANGE', (t) => {
  const net = new Network(['a', 'b', 'c'], {}, 1, { voters: ['a', 'b', 'c'], learners: ['l'] });
  net.elect('a');
  const bad = [
    { type: 'addLearner' as const, nodeId: 'b' },
    { type: 'addLearner' as const, nodeId: 'l' },
    { type: 'promote' as const, nodeId: 'b' },
    { type: 'promote' as const, nodeId: 'zz' },
    { type: 'remove' as const, nodeId: 'zz' },
  ];
  for (const cc of bad) t.is(code(t.throws(() => net.raw('a').proposeConfChange(cc))), 'INVALID_CONF_CHANGE', JSON.stringify(cc));
  const solo = new Network(['a']);
  solo.elect('a');
  t.is(code(t.throws(() => solo.raw('a').proposeConfChange({ type: 'remove', nodeId: 'a' }))), 'INVALID_CONF_CHANGE');
});

test('remove a follower: the group continues with the remaining voters', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.raw('a').proposeConfChange({ type: 'remove', nodeId: 'c' });
  net.deliver();
  t.deepEqual(net.raw('a').status().conf.voters, ['a', 'b']);
  t.false('c' in net.raw('a').status().progress!);
  net.isolate('c');
  net.propose('a', 'two-of-two');
  t.deepEqual(net.appliedData('b'), ['two-of-two']);
  // The removed node never campaigns.
  net.tickAll(40);
  t.is(net.raw('c').status().role, 'follower');
  t.is(net.leader(), 'a');
});

test('a removed leader steps down and the others elect a new leader', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.raw('a').proposeConfChange({ type: 'remove', nodeId: 'a' });
  net.deliver();
  t.is(net.raw('a').status().role, 'follower');
  net.tickAll(3); // the removal reaches b and c as committed
  net.tickAll(50);
  const l = net.leader();
  t.true(l === 'b' || l === 'c', `leader ${l}`);
  t.deepEqual(net.raw(l!).status().conf.voters, ['b', 'c']);
  net.propose(l!, 'after');
  t.deepEqual(net.appliedData(l === 'b' ? 'c' : 'b'), ['after']);
});

test('membership survives a restart: applied conf changes are replayed from the log', (t) => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  join(net, 'd');
  net.raw('a').proposeConfChange({ type: 'addLearner', nodeId: 'd' });
  net.deliver();
  net.restart('b');
  t.deepEqual(net.raw('b').status().conf, { voters: ['a', 'b', 'c'], learners: ['d'] });
});

test('a node joining with an empty log learns the whole membership from the conf entries', (t) => {
  // Regression: the bootstrap membership lives at index 0, outside the log. A joiner that only
  // replayed "addLearner d, promote d" believed it was the only voter and could elect itself.
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  join(net, 'd');
  net.raw('a').proposeConfChange({ type: 'addLearner', nodeId: 'd' });
  net.deliver();
  net.tickAll(2);
  net.raw('a').proposeConfChange({ type: 'promote', nodeId: 'd' });
  net.deliver();
  net.tickAll(2);
  t.deepEqual(net.raw('d').status().conf, { voters: ['a', 'b', 'c', 'd'], learners: [] });
  net.isolate('d');
  net.tickAll(60);
  t.not(net.raw('d').status().role, 'leader');
  t.is(net.raw('d').status().term, 1, 'pre-vote kept it from inflating the term');
});

for (const preVote of [true, false]) {
  test(`a voter removed while cut off cannot disrupt the group when it returns (preVote ${preVote})`, (t) => {
    // It never learns of its removal, so it keeps campaigning. Pre-vote fails for its stale
    // log; without pre-vote its inflated term is ignored by members that hear the leader.
    const net = new Network(['a', 'b', 'c'], { preVote, electionTimeoutTicks: 10 });
    net.elect('a');
    net.isolate('c');
    net.raw('a').proposeConfChange({ type: 'remove', nodeId: 'c' });
    net.deliver();
    net.tickAll(2);
    t.deepEqual(net.raw('b').status().conf.voters, ['a', 'b']);
    t.deepEqual(net.raw('c').status().conf.voters, ['a', 'b', 'c']);
    net.tickAll(50);
    if (!preVote) t.true(net.raw('c').status().term > 1, 'c campaigned on its own');
    net.heal();
    net.tickAll(100);
    t.is(net.leader(), 'a');
    t.is(net.raw('a').status().term, 1);
    t.is(net.raw('b').status().term, 1);
    net.propose('a', 'after');
    t.deepEqual(net.appliedData('b'), ['after']);
  });
}

test('a new leader with an unapplied conf change in its log refuses another change until it applies it', (t) => {
  const net = new Network(['a', 'b', 'c'], { checkQuorum: false });
  net.elect('a');
  join(net, 'd');
  join(net, 'e');
  // The addLearner reaches b but does not commit; a goes away; b takes over.
  net.isolate('c');
  net.filter = (m) => m.type === 'appResp' && m.to === 'a';
  net.raw('a').proposeConfChange({ type: 'addLearner', nodeId: 'd' });
  net.deliver();
  net.heal();
  net.isolate('a');
  net.filter = (m) => m.type === 'appResp' && m.to === 'b';
  net.elect('b');
  const b = net.raw('b');
  t.is(b.status().role, 'leader');
  t.deepEqual(b.status().conf.learners, [], 'the addLearner is not applied yet');
  t.is(code(t.throws(() => b.proposeConfChange({ type: 'addLearner', nodeId: 'e' }))), 'NOT_READY');
  // c acknowledges b's no-op: the change and the no-op commit, but b has not applied them yet.
  b.step(msg({ type: 'appResp', from: 'c', to: 'b', term: b.status().term, index: b.status().lastIndex }));
  t.true(b.status().commit > b.status().applied);
  t.is(code(t.throws(() => b.proposeConfChange({ type: 'addLearner', nodeId: 'e' }))), 'CONF_CHANGE_PENDING');
  net.filter = null;
  net.tickAll(3);
  t.deepEqual(b.status().conf.learners, ['d']);
  t.notThrows(() => b.proposeConfChange({ type: 'addLearner', nodeId: 'e' }));
});

test('by default a committed conf change still goes to every peer at once in an empty app, the node it removes included (it hears nothing after)', (t) => {
  const net = new Network(['a', 'b', 'c'], CORE_DEFAULT);
  net.elect('a');
  net.tickAll();
  net.propose('a', 'before');
  t.true(net.raw('c').status().commit < net.raw('a').status().commit, 'a plain write\'s commit waits for the next app or heartbeat');
  net.log = [];
  const ticket = net.raw('a').proposeConfChange({ type: 'remove', nodeId: 'c' });
  net.deliver();
  t.false('c' in net.raw('a').status().progress!, 'c removed');
  const told = net.log.filter((m) => m.type === 'app' && m.from === 'a' && m.entries.length === 0 && m.commit >= ticket.index);
  t.deepEqual(told.map((m) => m.to).sort(), ['b', 'c']);
  t.true(net.raw('c').status().commit >= ticket.index, 'the removed node knows the commit of everything before its removal');
  t.deepEqual(net.appliedData('c'), ['before']);
});
