/**
 * A chaos review (seed 303: --nodes 3 --shards 2 --routers 1): a `seqdb rebalance` killed mid-move
 * left a hot bucket frozen 62 s (103.5 s -> 165 s) and another batch 44 s, though the catalog
 * shard had a leader nearly all the time. The take-over's idle timer (abandoned-move.ts `due`,
 * `seen`) lives in the leader's memory and is dropped whenever leadership moves
 * (`if (!this.o.leads()) this.seen = null`; a new leader starts with `seen = null`), so each
 * catalog leader change restarts the full idleMs wait. Catalog leader stints of 29.5 s, 6.8 s,
 * 4.5 s (kill-leader, isolate-leader, pause-leader faults) meant no take-over ever came.
 *
 * Scaled down: idleMs 1000 ms, checks every 50 ms, leadership alternating between two catalog
 * nodes every 900 ms, one abandoned move record that never changes. Reaching checkWith (which
 * calls selfAddr) is the take-over's decision that the record is idle.
 */
import test from 'ava';
import { AbandonedMoves } from '../../node/rebalance/abandoned-move.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function scenario(stintMs: number, totalMs: number): Promise<number | null> {
  const t0 = performance.now();
  let decidedAt: number | null = null;
  let leader = 0;
  const record = { epoch: 4, state: 'begun' };
  const nodes = [0, 1].map((i) => new AbandonedMoves({
    selfAddr: () => {
      decidedAt ??= performance.now() - t0;
      return '127.0.0.1:1';
    },
    leads: () => leader === i,
    dial: {},
    log: () => {},
    idleMs: 1000,
    localMove: () => record,
  }));
  while (performance.now() - t0 < totalMs && decidedAt === null) {
    leader = Math.floor((performance.now() - t0) / stintMs) % 2;
    for (const n of nodes) void n.check();
    await sleep(50);
  }
  return decidedAt;
}

test('control: with one stable catalog leader the abandoned move is taken over after ~idleMs', async (t) => {
  const at = await scenario(1e9, 4000);
  t.log(`take-over decided at ${at === null ? 'never' : `${Math.round(at)} ms`}`);
  t.true(at !== null && at < 2000);
});

test('catalog leader churn (stints shorter than idleMs) must not postpone the take-over forever', async (t) => {
  // The record has been unchanged since t=0 and the catalog always had a leader.
  const at = await scenario(900, 6000);
  t.log(`take-over decided at ${at === null ? 'never (6 s = 6 x idleMs)' : `${Math.round(at)} ms`}`);
  t.true(at !== null && at < 3000, 'a move abandoned for 3 x idleMs with a catalog leader all along was not taken over');
});
