// Found by a review: a write answered NOTLEADER ("nothing executed, safe to retry") is applied later.
//
// node/replication/proposals.ts `wait()`: when a node proposes at an index that still has a
// waiting ticket (from an earlier leadership of the same node), the old ticket is resolved with
// `lostResult()` = NOT_LEADER at once. The reasoning "our log no longer holds the old entry, so
// it can never apply" is wrong: an uncommitted entry that was cut from THIS node's log can still
// sit on other nodes, and a later leader holding it commits it (Raft only protects committed
// entries). The only sound rule is the one the core documents: a proposal succeeded iff the entry
// APPLIED at ticket.index has ticket.term.
//
// Driven exactly like raft-node.ts does: RawNode over MemoryStorage (test/raft/helpers), every
// proposal of n1 registered with the driver's Proposals (same timeout, NOT_LEADER lost result),
// and every entry n1 applies reported through Proposals.applied(index, term, result).
import test from 'ava';
import { Network, enc } from '../raft/helpers/network.ts';
import { Proposals } from '../../node/replication/proposals.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { errorResult, type CommandResult } from '../../node/state-machine/index.ts';
import type { NodeId } from '../../node/raft/types.ts';
import type { EntryResult } from '../../node/replication/write-batch.ts';

const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];

function tickUntil(net: Network, who: readonly NodeId[], done: () => boolean, max = 200): void {
  for (let i = 0; i < max && !done(); i++) {
    for (const id of who) net.tick(id);
    net.deliver();
  }
  if (!done()) throw new Error('condition not reached');
}

function connectOnly(net: Network, groups: readonly (readonly NodeId[])[]): void {
  net.heal();
  for (const a of ids) {
    for (const b of ids) {
      if (a === b) continue;
      const together = groups.some((g) => g.includes(a) && g.includes(b));
      if (!together) net.cutLink(a, b);
    }
  }
}

test('a proposal whose index a later leadership of the same node reuses waits for what applies there: its entry may still commit', async (t) => {
  const net = new Network(ids); // defaults: pre-vote and check-quorum on
  const role = (id: NodeId) => net.raw(id).status().role;
  const term = (id: NodeId) => net.raw(id).status().term;

  // n1's driver side: its waiting writes, answered as raft-node.ts answers them.
  const answers = new Map<string, CommandResult>();
  const proposals = new Proposals(5000, () => errorResult(ErrorCode.NOT_LEADER, 'shard n?'));
  let now = 0;
  const propose = (text: string) => {
    const ticket = net.raw('n1').propose(enc(text));
    void proposals.wait(ticket, now).then((r: EntryResult) => answers.set(text, r as CommandResult));
    return ticket;
  };
  let appliedOnN1 = 0;
  const reportApplied = () => {
    const n1 = net.get('n1');
    for (const e of n1.applied.slice(appliedOnN1)) proposals.applied(e.index, e.term, { type: 'int', value: BigInt(e.index) });
    appliedOnN1 = n1.applied.length;
  };

  // Term T1: n1 leads, one committed write everywhere.
  net.elect('n1');
  t.is(role('n1'), 'leader');
  propose('base');
  net.tickAll(2);
  reportApplied();
  const T1 = term('n1');
  const k = net.raw('n1').status().lastIndex + 1;

  // n1's next three writes reach n2 only: uncommitted (2 of 5), held on n1 and n2.
  connectOnly(net, [['n1', 'n2'], ['n3', 'n4', 'n5']]);
  const w1 = propose('w1');
  const w2 = propose('w2');
  const w3 = propose('w3');
  net.deliver();
  t.deepEqual([w1.index, w2.index, w3.index], [k, k + 1, k + 2]);
  t.is(net.get('n2').storage.lastIndex(), k + 2);
  t.is(net.raw('n1').status().commit, k - 1);

  // n1 and n2 are cut off; n3..n5 elect a leader L2 (term T2). Its appends reach only n1, so
  // its no-op at k never commits.
  connectOnly(net, [['n1'], ['n2'], ['n3', 'n4', 'n5']]);
  net.filter = (m) => m.type === 'app' && ['n3', 'n4', 'n5'].includes(m.from) && m.to !== 'n1';
  let L2: NodeId | null = null;
  const leaderAmong = (g: readonly NodeId[]) => g.find((id) => role(id) === 'leader') ?? null;
  tickUntil(net, ['n3', 'n4', 'n5'], () => (L2 = leaderAmong(['n3', 'n4', 'n5'])) !== null);
  const l2 = L2 as unknown as NodeId;
  const T2 = term(l2);
  // L2 reaches n1: n1 steps down and its uncommitted tail k..k+2 (term T1) is replaced by (k, T2).
  connectOnly(net, [[l2, 'n1'], ['n2']]);
  net.filter = (m) => m.type === 'app' && m.from === l2 && m.to !== 'n1';
  tickUntil(net, [l2], () => net.get('n1').storage.lastIndex() === k && net.get('n1').storage.term(k) === T2, 20);
  t.is(role('n1'), 'follower');
  t.is(net.raw(l2).status().commit, k - 1, 'L2 no-op not committed');

  // L2 goes away. n1 (log ends (k, T2)) is elected by the two others of n3..n5 (term T3); its
  // own appends are dropped so nothing of T3 commits. Client writes arrive at the new leader.
  const others = ['n3', 'n4', 'n5'].filter((x) => x !== l2);
  connectOnly(net, [['n1', ...others], ['n2'], [l2]]);
  net.filter = (m) => m.type === 'app' && (m.from === 'n1' || m.from === l2);
  tickUntil(net, ['n1', ...others], () => role('n1') === 'leader');
  const T3 = term('n1');
  propose('x1'); // the no-op of T3 is at k + 1, x1 at k + 2: w3's index
  const x = net.raw('n1').status().lastIndex;
  t.is(x, k + 2, 'n1 proposed at the index of w3');
  // The driver has just answered w3:
  await new Promise((r) => setImmediate(r));
  t.log(`w3 answered at once: ${JSON.stringify(answers.get('w3'))}`);

  // n1 goes away. n2 still holds w1..w3 (term T1); the two others grant it (their logs end at
  // k - 1) and it commits them with its no-op: 3 of 5.
  connectOnly(net, [['n2', ...others], ['n1'], [l2]]);
  net.filter = (m) => m.type === 'app' && (m.from === 'n1' || m.from === l2);
  tickUntil(net, ['n2', ...others], () => role('n2') === 'leader' && net.raw('n2').status().commit >= k + 3);
  const T4 = term('n2');
  t.log(`terms: T1=${T1} T2=${T2} T3=${T3} T4=${T4}; L2=${l2}; k=${k}`);

  // Everyone heals; n1 applies the committed log like every replica.
  net.heal();
  net.filter = null;
  for (let i = 0; i < 10; i++) {
    for (const id of ids) net.tick(id);
    net.deliver();
  }
  reportApplied();
  await new Promise((r) => setImmediate(r));
  const appliedOn = (id: NodeId) => net.appliedData(id);
  for (const id of ids) t.true(appliedOn(id).includes('w3'), `${id} applied w3`);
  const n1w3 = net.get('n1').applied.find((e) => e.index === k + 2)!;
  t.is(n1w3.term, T1, 'the entry at w3\'s index that every replica applied is w3 itself (term T1)');

  // The contract (node/replication/DESIGN.md, README): NOTLEADER = the write certainly did not
  // happen. Here it did: with a plain INC the number it took is never handed to anyone (a skip);
  // with the client library the call may end ERR_TIMEOUT ("no attempt can have applied").
  t.not(
    (answers.get('w3') as { code?: string }).code,
    ErrorCode.NOT_LEADER,
    'w3 was applied on every replica but its client was told NOTLEADER (certainly not executed)',
  );
  // Each waiter is settled by the entry that applied at its index: w3 gets its own result, and
  // x1 (term T3, whose entry was replaced) is certainly lost.
  t.deepEqual(answers.get('w3'), { type: 'int', value: BigInt(k + 2) });
  t.is((answers.get('x1') as { code?: string }).code, ErrorCode.NOT_LEADER);
  t.is(proposals.size, 0);
});
