/**
 * A disk that stops answering under a running shard: the writes and syncs of one node's files
 * block (io-fault.c's stall mode), as on a hard-mounted NFS server that went away or a dying
 * drive: no error ever comes back. The rest of the shard must serve on within seconds, whether the
 * stalled node led or followed, under load or under a trickle of INCs; every acknowledged number
 * is given once, in order, with no gap; and once the disk answers again, the node's late writes
 * land without harm: it catches up and, leading, hands out the next numbers.
 *
 * Why a stalled leader loses the shard (node/replication/leader-writes.ts): its log writes run in
 * the background, at most LEADER_WRITES_MAX in flight; beyond that its Ready loop waits, sends
 * nothing, heartbeats included, and the followers elect a new leader. A follower's write blocks
 * its event loop: it goes silent, and the leader commits with the other follower.
 */
import test, { type ExecutionContext } from 'ava';
import { ioFaultLibrary } from '../helpers/io-fault.ts';
import { exitOf, faultedShard, getOnceLeading } from './fault-shard.ts';
import { RetryingIncClient, checkIncHistory, command, sleep, type IncOp } from '../replication/helpers/cluster.ts';

const lib = ioFaultLibrary();
// One at a time: 3-node shards under load at once starve each other on a 2-core box.
const serialWithCc = lib === null ? test.skip : test.serial;
if (lib === null) console.log('io-stall: no C compiler (cc) here: the disk-stall tests are skipped');

/** Under load: 6 clients back to back. A trickle: one client, an INC every 50 ms. */
const LOADS = { load: { clients: 6, pauseMs: 0 }, trickle: { clients: 1, pauseMs: 50 } } as const;
// Several election timeouts (~1-2 s each) past the longest pause allowed (5 s).
const STALL_MS = 8000;

interface Case {
  readonly what: string;
  /** The stalled files, under the node's data dir ('' for all of them). */
  readonly files: string;
  readonly pick: 'leader' | 'follower';
  readonly load: keyof typeof LOADS;
}

async function stallAndHeal(t: ExecutionContext, k: Case): Promise<void> {
  t.timeout(110_000);
  const { c, faults } = await faultedShard(t, lib!, k.files, { mode: 'stall' });
  const leader = await c.waitForLeader(3);
  const victim = k.pick === 'leader' ? leader : c.nodes.find((n) => n.index !== leader)!.index;
  t.is((await command(c.nodes[leader]!.port, ['INC', 'b', 'st'], 3000)).trim(), ':1');
  const ports = c.nodes.map((n) => n.port);
  const { clients, pauseMs } = LOADS[k.load];
  const ops: IncOp[] = [];
  const endMs = Date.now() + 2000 + STALL_MS;
  const load = Promise.all(Array.from({ length: clients }, async (_, i) => {
    const cl = new RetryingIncClient(i, ports);
    for (let op = 0; op < 100_000 && Date.now() < endMs; op++) {
      ops.push(await cl.inc('b', 'st', op, endMs + 20_000));
      if (pauseMs > 0) await sleep(pauseMs);
    }
    cl.close();
  }));
  await sleep(2000);
  const armedAt = Date.now();
  faults[victim]!.arm();
  await load;

  const after = ops.filter((o) => o.ackMs > armedAt).map((o) => o.ackMs).sort((a, b) => a - b);
  let pauseLongestMs = after.length > 0 ? after[0]! - armedAt : Infinity;
  for (let i = 1; i < after.length; i++) pauseLongestMs = Math.max(pauseLongestMs, after[i]! - after[i - 1]!);
  t.log(`${k.pick} (node ${victim}) stalled: ${ops.length} INCs, ${after.length} acknowledged after, longest pause ${pauseLongestMs} ms`);
  t.is(ops.filter((o) => o.value === null).length, 0, 'every INC got its number (retried with its token)');
  t.deepEqual(checkIncHistory(ops, 1n), []);
  t.true(after.length > 0 && after.at(-1)! > endMs - 3000, 'the shard serves on without the stalled node');
  // Election timeouts are ~1-2 s: a stall that held the shard for 5 s is not a failover.
  t.true(pauseLongestMs < 5000, `the shard paused ${pauseLongestMs} ms`);

  // The disk answers again: the writes it held land late, the node catches up and serves.
  faults[victim]!.heal();
  const others = c.nodes.map((n) => n.index).filter((i) => i !== victim);
  const now = await c.waitForLeader(3, 15_000, others);
  // Asked again while the healed node's held writes land (a loaded CI box let a 1 s INFO time out).
  const commit = Number((await c.infoSoon(now, 30_000, 3000)).commit_index);
  const info = await c.waitApplied(victim, commit);
  t.is(info.role, 'follower');
  t.is(await getOnceLeading(c, now, victim, 'st'), `:${ops.length + 1}`, 'the healed node serves the same numbers once it leads');
  t.is((await command(c.nodes[victim]!.port, ['INC', 'b', 'st'], 3000)).trim(), `:${ops.length + 2}`);
}

const CASES: readonly Case[] = [
  { what: 'disk stops answering under load', files: '', pick: 'follower', load: 'load' },
  { what: 'disk stops answering under load', files: '', pick: 'leader', load: 'load' },
  { what: 'disk stops answering under a trickle of INCs', files: '', pick: 'leader', load: 'trickle' },
  { what: 'Raft log stops answering under load', files: 'raft/wal/', pick: 'leader', load: 'load' },
];

for (const k of CASES) {
  serialWithCc(`a ${k.pick} whose ${k.what}: the shard serves on, no number lost, repeated or skipped; healed, it catches up`, (t) => stallAndHeal(t, k));
}

/**
 * A stalled leader's graceful stop waits for its log writes, which never end: without a bound it
 * waited as long as the disk did (until a second signal or SIGKILL). --shutdown-timeout-ms ends
 * it (bin/stop-signals.ts). Its log, which it writes off its loop: a node blocked in a write on
 * its loop (a follower's log write; any node's state commit, since the state store no longer
 * writes through LMDB's memory map: lmdb-store.ts) runs no code at all until the write returns,
 * and only SIGKILL ends it, which the README says.
 */
serialWithCc('a leader whose Raft log stops answering ends on SIGTERM within --shutdown-timeout-ms', async (t) => {
  t.timeout(90_000);
  const { c, faults } = await faultedShard(t, lib!, 'raft/wal/', { mode: 'stall', args: ['--shutdown-timeout-ms', '3000'] });
  const leader = await c.waitForLeader(3);
  const ports = c.nodes.map((n) => n.port);
  const endMs = Date.now() + 6000;
  const load = Promise.all([0, 1, 2].map(async (i) => {
    const cl = new RetryingIncClient(i, ports);
    for (let op = 0; op < 100_000 && Date.now() < endMs; op++) await cl.inc('b', 'st', op, endMs + 20_000);
    cl.close();
  }));
  await sleep(1000);
  faults[leader]!.arm();
  await sleep(2000);
  const exited = exitOf(c, leader, 20_000);
  const signalledAt = Date.now();
  c.nodes[leader]!.child!.kill('SIGTERM');
  const code = await exited;
  const tookMs = Date.now() - signalledAt;
  await load;
  faults[leader]!.heal();
  t.log(`stopped after ${tookMs} ms: ${code}`);
  t.is(code, 'SIGKILL', 'ended by the timeout (exitNow), not by a finished graceful stop');
  t.true(tookMs >= 2500 && tookMs < 15_000, `took ${tookMs} ms`);
  t.regex(c.nodes[leader]!.output, /shutdown did not finish within 3000 ms/);
});
