/**
 * A disk that fails (EIO) under a running shard: the writes of a node's Raft log, or of its Raft
 * metadata store (snapshot and compaction records, LMDB), fail in the real process, through
 * io-fault.c loaded with LD_PRELOAD. A node whose log cannot be written must stop
 * (it can no longer promise what it acknowledges; retrying a failed write or sync can report
 * success for data that never reached the disk), the rest of the shard serves on, every
 * acknowledged number is given once, in order, with no gap; on a healed disk the node restarts
 * from what it has and catches up. (A replica's state store is not fsynced: its lost pages are
 * the OS-crash case, rebuilt from the log: test/replication/state-reboot.test.ts.)
 */
import test, { type ExecutionContext } from 'ava';
import { ioFaultLibrary } from '../helpers/io-fault.ts';
import { exitOf, faultedShard, getOnceLeading } from './fault-shard.ts';
import { Cluster, RetryingIncClient, checkIncHistory, command, sleep, type IncOp } from '../replication/helpers/cluster.ts';

const lib = ioFaultLibrary();
// One at a time: four 3-node shards under load at once starve each other on a 2-core box.
const serialWithCc = lib === null ? test.skip : test.serial;
if (lib === null) console.log('io-errors: no C compiler (cc) here: the disk-fault tests are skipped');

const CLIENTS = 6;

/** Retrying INC loops until `stop.atMs` (which the test may move), each op retried to its number. */
async function incLoad(c: Cluster, stop: { atMs: number }, ops: IncOp[]): Promise<void> {
  const ports = c.nodes.map((n) => n.port);
  await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
    const cl = new RetryingIncClient(i, ports);
    for (let op = 0; op < 100_000 && Date.now() < stop.atMs; op++) ops.push(await cl.inc('b', 'eio', op, stop.atMs + 20_000));
    cl.close();
  }));
}

interface Place {
  readonly what: string;
  /** The failing files, under a node's data dir. */
  readonly files: string;
  readonly args: readonly string[];
  /** Which calls fail (io-fault.ts); default writes and syncs. */
  readonly ops?: string;
}

const PLACES: readonly Place[] = [
  { what: 'log writes', files: 'raft/wal/seg-', args: [] },
  // Written when a snapshot is taken and the log compacted: every 300 entries here.
  { what: 'Raft metadata writes', files: 'raft/data.mdb', args: ['--snapshot-entries', '300'] },
  // The pages are written, their fdatasync fails: the commit must not count either.
  { what: 'Raft metadata syncs', files: 'raft/data.mdb', args: ['--snapshot-entries', '300'], ops: 'sync' },
];

async function failAndRecover(t: ExecutionContext, place: Place, pick: 'leader' | 'follower'): Promise<void> {
  t.timeout(110_000);
  const { c, faults } = await faultedShard(t, lib!, place.files, place);
  const leader = await c.waitForLeader(3);
  const victim = pick === 'leader' ? leader : c.nodes.find((n) => n.index !== leader)!.index;
  t.is((await command(c.nodes[leader]!.port, ['INC', 'b', 'eio'], 3000)).trim(), ':1');

  const ops: IncOp[] = [];
  // The load runs on for 1.5 s after the node stopped (a metadata write comes with a snapshot,
  // which waits for enough entries), or stops when the node did not within 20 s.
  const stop = { atMs: Date.now() + 60_000 };
  const load = incLoad(c, stop, ops);
  await sleep(1500);
  const exited = exitOf(c, victim, 20_000);
  const armedAt = Date.now();
  faults[victim]!.arm();
  const code = await exited;
  const stoppedMs = Date.now() - armedAt;
  stop.atMs = Date.now() + (code === 'running' ? 0 : 1500);
  await load;
  const output = c.nodes[victim]!.output;
  t.log(`${pick} (node ${victim}) stopped ${stoppedMs} ms after its disk began failing, exit ${code}; ${ops.length} INCs`);
  t.not(code, 'running', `the node kept running on a failing disk:\n${output.slice(-2000)}`);
  t.not(code, 0);
  t.regex(output, /EIO|input\/output error/i, 'the node says why it stopped');
  t.log(`its last words: ${/.*(EIO|input\/output error).*/i.exec(output)?.[0]?.slice(0, 160)}`);

  t.is(ops.filter((o) => o.value === null).length, 0, 'every INC got its number (retried with its token)');
  t.deepEqual(checkIncHistory(ops, 1n), []);
  t.true(ops.some((o) => o.ackMs > armedAt + stoppedMs), 'the shard served on without the node');

  // The disk heals: the node restarts from its own log and catches up.
  faults[victim]!.heal();
  const now = await c.waitForLeader(3, 15_000, c.alive().map((n) => n.index));
  const commit = Number((await c.info(now))!.commit_index);
  c.spawn(victim);
  const info = await c.waitApplied(victim, commit);
  t.is(info.role, 'follower');
  t.is(await getOnceLeading(c, now, victim, 'eio'), `:${ops.length + 1}`, 'the restarted node serves the same numbers once it leads');
  t.is((await command(c.nodes[victim]!.port, ['INC', 'b', 'eio'], 3000)).trim(), `:${ops.length + 2}`);
}

for (const place of PLACES) {
  for (const pick of ['follower', 'leader'] as const) {
    serialWithCc(`a ${pick} whose ${place.what} fail (EIO) stops; the shard serves on, no number lost, repeated or skipped; healed, it catches up`, (t) => failAndRecover(t, place, pick));
  }
}
