/**
 * A disk whose log can no longer be read back (EIO on reads of the Raft log's segments, through
 * io-fault.c): at start, where a node reads its whole log to recover, and later, where a leader
 * reads entries older than its entry cache to catch up a follower that lagged. Either way the
 * node must not go on as if the entries were not there (an empty or short read taken for the end
 * of the log would drop acknowledged entries): it stops and says why, the rest of the shard
 * serves on with every acknowledged number once, and on a healed disk it starts from what it has.
 */
import test, { type ExecutionContext } from 'ava';
import { ioFaultLibrary } from '../helpers/io-fault.ts';
import { exitOf, faultedShard, getOnceLeading } from './fault-shard.ts';
import { Cluster, checkIncHistory, command, sleep, type IncOp } from '../replication/helpers/cluster.ts';

const lib = ioFaultLibrary();
const serialWithCc = lib === null ? test.skip : test.serial;
if (lib === null) console.log('io-errors-reads: no C compiler (cc) here: the disk-fault tests are skipped');

/** `n` INCs of b/rd through whichever of `via` answers, one after another, each retried with its token. */
async function incs(t: ExecutionContext, c: Cluster, via: readonly number[], n: number, ops: IncOp[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    let reply = '';
    let attempts = 0;
    const token = `rd-${ops.length}`;
    const invokeMs = Date.now();
    for (const deadline = Date.now() + 15_000; Date.now() < deadline && !reply.startsWith(':'); ) {
      for (const j of via) {
        attempts++;
        reply = (await command(c.nodes[j]!.port, ['INC', 'b', 'rd', 'ID', token], 3000).catch((err: Error) => err.message)).trim();
        if (reply.startsWith(':')) break;
      }
      if (!reply.startsWith(':')) await sleep(100);
    }
    t.regex(reply, /^:\d+$/, `INC ${ops.length + 1} answered`);
    ops.push({ client: 0, token, invokeMs, ackMs: Date.now(), value: BigInt(reply.slice(1)), attempts });
  }
}

serialWithCc('a node whose log cannot be read at start refuses to start and says EIO; the shard serves on; healed, it starts and catches up', async (t) => {
  t.timeout(90_000);
  const { c, faults } = await faultedShard(t, lib!, 'raft/wal/seg-', { ops: 'read' });
  const leader = await c.waitForLeader(3);
  const victim = c.nodes.find((n) => n.index !== leader)!.index;
  const others = c.nodes.map((n) => n.index).filter((i) => i !== victim);
  const ops: IncOp[] = [];
  await incs(t, c, [leader], 50, ops);

  c.kill(victim, 'SIGKILL');
  await sleep(300);
  faults[victim]!.arm();
  c.spawn(victim, [], faults[victim]!.env);
  const code = await exitOf(c, victim, 20_000);
  const output = c.nodes[victim]!.output;
  t.not(code, 'running', `the node started on a log it cannot read:\n${output.slice(-2000)}`);
  t.not(code, 0);
  t.regex(output, /EIO|input\/output error/i, 'the node says why it stopped');
  t.log(`exit ${code}; its last words: ${/.*(EIO|input\/output error).*/i.exec(output)?.[0]?.slice(0, 200)}`);

  await incs(t, c, others, 50, ops);
  faults[victim]!.heal();
  const commit = Number((await c.info(leader))!.commit_index);
  c.spawn(victim, [], faults[victim]!.env);
  t.is((await c.waitApplied(victim, commit)).role, 'follower');
  t.is(await getOnceLeading(c, leader, victim, 'rd'), ':100', 'the restarted node has every number');
  await incs(t, c, [victim], 1, ops);
  t.deepEqual(checkIncHistory(ops), []);
});

serialWithCc('a leader that cannot read back the entries a lagging follower needs stops and says EIO; the shard serves on; healed, it catches up', async (t) => {
  t.timeout(110_000);
  const { c, faults } = await faultedShard(t, lib!, 'raft/wal/seg-', { ops: 'read' });
  const first = await c.waitForLeader(3);
  const [a, lagging] = c.nodes.map((n) => n.index).filter((i) => i !== first) as [number, number];
  const ops: IncOp[] = [];
  await incs(t, c, [first], 20, ops);

  // The lagging follower misses entries while `a` restarts, so that `a`'s entry cache (filled as
  // entries are written) no longer holds them: once `a` leads, it reads them from its segments.
  c.kill(lagging, 'SIGSTOP');
  await incs(t, c, [first], 300, ops);
  c.kill(a, 'SIGKILL');
  await sleep(300);
  c.spawn(a, [], faults[a]!.env);
  await c.waitApplied(a, Number((await c.info(first))!.commit_index));
  faults[a]!.arm();
  t.is(await getOnceLeading(c, first, a, 'rd'), ':320', 'the restarted node leads, with every number');
  const exited = exitOf(c, a, 20_000);
  c.kill(lagging, 'SIGCONT');
  const code = await exited;
  const output = c.nodes[a]!.output;
  t.not(code, 'running', `the leader kept running on a log it cannot read:\n${output.slice(-2000)}`);
  t.not(code, 0);
  t.regex(output, /EIO|input\/output error/i, 'the node says why it stopped');
  t.regex(output, /FATAL[^\n]*cannot read/, 'the failed read itself stopped it (not logged and left)');
  t.log(`exit ${code}; its last words: ${/.*(EIO|input\/output error).*/i.exec(output)?.[0]?.slice(0, 200)}`);

  await incs(t, c, [first, lagging], 30, ops);
  faults[a]!.heal();
  const now = await c.waitForLeader(3, 15_000, [first, lagging]);
  const commit = Number((await c.info(now))!.commit_index);
  c.spawn(a, [], faults[a]!.env);
  await c.waitApplied(a, commit);
  await c.waitApplied(lagging, commit);
  t.is(await getOnceLeading(c, now, lagging, 'rd'), ':350', 'the follower that lagged has every number');
  t.deepEqual(checkIncHistory(ops), []);
});
