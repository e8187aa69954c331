/**
 * A review of fa1bbd6's first version: a coordinator's heartbeats went to every catalog member
 * through ONE Promise.all, and the next beat was skipped while any of them was still in flight
 * (now: in flight per member, mover.ts heartbeat()). One catalog FOLLOWER that stops answering (paused process,
 * stalled disk, half-open connection) holds the beat for the request timeout (5 s), so the LEADER
 * hears a live coordinator only every 6 s = silentMs, and its silence rule (abandoned-move.ts due())
 * is true for a moment: a check landing then takes over a coordinator that is alive and beating.
 * (Before fa1bbd6 the beat went to the leader alone and a hung follower did not matter.)
 *
 * The coordinator here is alive: it is in a slow step (afterStep sleeps 14 s) and never stops beating.
 * The catalog leader's watcher is checked every 2 ms (production: every 2 s at an arbitrary phase, so
 * any instant is a possible check time).
 */
import test from 'ava';
import { AbandonedMoves } from '../../node/rebalance/abandoned-move.ts';
import { runMove } from '../../node/rebalance/mover.ts';
import { ShardClient } from '../../node/rebalance/shard-client.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { fakeNode } from '../router/fake-node.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('one unresponsive catalog follower does not make the catalog leader take over a live, heartbeating coordinator', async (t) => {
  t.timeout(40_000);
  const EPOCH = 7;
  const takeOvers: string[] = [];
  // selfAddr of the leader's watcher: a take-over starts with CLUSTER MOVE there (refused: check() ends).
  const self = await fakeNode((args) => {
    takeOvers.push(args.join(' '));
    return '-ERR refused by the test\r\n';
  });
  let moves: AbandonedMoves;
  const heardAt: number[] = [];
  const leader = await fakeNode((args) => {
    if (args[0] === 'SEQDB.MOVEALIVE') {
      heardAt.push(monoNowMs());
      moves.alive(Number(args[1]));
    }
    return '+OK\r\n';
  });
  // A catalog follower that answers its first request, then hangs (its connection stays open).
  const follower = await fakeNode((_args, n) => (n <= 1 ? '+OK\r\n' : 'ignore'));
  // RELEASEPAGE: the last page at once ([0 released, 0 deleted, cursor, done]).
  const source = await fakeNode((args) => (args[1] === 'RELEASEPAGE' ? '*4\r\n:0\r\n:0\r\n$0\r\n\r\n:1\r\n' : '+OK\r\n'));
  moves = new AbandonedMoves({
    selfAddr: () => self.address,
    leads: () => true,
    dial: {},
    log: (l) => t.log(l),
    idleMs: 60_000,
    localMove: () => ({ epoch: EPOCH, state: 'committed' }),
  });
  const checker = setInterval(() => void moves.check(), 2);
  const client = new ShardClient({});
  const startedMs = monoNowMs();
  let aliveUntilMs = 0;
  try {
    await moves.check();
    const outcome = await runMove({
      client,
      addrsOf: (shard) => (shard === '1' ? [leader.address, follower.address] : [source.address]),
      log: () => {},
      // A slow step: the coordinator is alive and heartbeating throughout.
      afterStep: async (step) => {
        if (step === 'release') await sleep(14_000);
        aliveUntilMs = monoNowMs();
      },
    }, { epoch: EPOCH, from: '2', to: '3', slots: SlotSet.fromBase64(new SlotSet().toBase64())!, state: 'committed' });
    t.is(outcome.result, 'moved');
  } finally {
    clearInterval(checker);
    client.close();
    await Promise.all([self, leader, follower, source].map((n) => n.close()));
  }
  const gaps = heardAt.slice(1).map((at, i) => Math.round(at - heardAt[i]!));
  t.log(`heartbeats heard by the leader at +${heardAt.map((a) => Math.round(a - startedMs)).join(', +')} ms; gaps ${gaps.join(', ')} ms (silentMs 6000)`);
  t.log(`coordinator alive until +${Math.round(aliveUntilMs - startedMs)} ms`);
  t.deepEqual(takeOvers, [], 'the catalog leader took over a coordinator that was alive and beating every 2 s');
});
