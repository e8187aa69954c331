/**
 * A follower that needs an InstallSnapshot while its disk fails (EIO, io-fault.c): the spool file
 * the image is written to as it arrives (snapshot-spool.ts) or read back from, the Raft metadata
 * store it is stored in (raft/data.mdb), or its log as it resumes. It must stop (a review found it retrying the
 * spool forever: never caught up, INFO silent), and healed it catches up with the right numbers.
 * The follower is SIGSTOPped while the leader compacts past it, the fault armed, then SIGCONT.
 */
import test, { type ExecutionContext } from 'ava';
import { ioFaultLibrary } from '../helpers/io-fault.ts';
import { processState } from '../helpers/process-state.ts';
import { Cluster, command } from '../replication/helpers/cluster.ts';
import { exitOf, faultedShard, getOnceLeading } from './fault-shard.ts';

const lib = ioFaultLibrary();
const serialWithCc = lib === null ? test.skip : test.serial;

async function incs(port: number, n: number): Promise<number> {
  let last = 0;
  for (let i = 0; i < n; i++) last = Number((await command(port, ['INC', 'b', 'snap'], 3000)).trim().slice(1));
  return last;
}

async function laggingFollower(t: ExecutionContext, files: string, ops = 'write,sync', onDemand = false): Promise<{ c: Cluster; f: number; leader: number; last: number; code: number | string }> {
  t.timeout(150_000);
  const { c, faults } = await faultedShard(t, lib!, files, { ops, args: ['--snapshot-entries', onDemand ? '1000000' : '200'] });
  const leader = await c.waitForLeader(3);
  const f = c.nodes.find((n) => n.index !== leader)!.index;
  const port = c.nodes[leader]!.port;
  await incs(port, 50);
  await c.waitApplied(f, Number((await c.info(leader))!.commit_index));
  c.kill(f, 'SIGSTOP');
  const last = await incs(port, 1200);
  if (onDemand) t.log(`SEQDB.SNAPSHOT on the leader: ${(await command(port, ['SEQDB.SNAPSHOT'], 10_000)).trim()}`);
  t.log(`leader INFO: ${JSON.stringify(await c.info(leader))}`);
  faults[f]!.arm();
  const exited = exitOf(c, f, 25_000);
  c.kill(f, 'SIGCONT');
  const code = await exited;
  t.log(`follower ${f}: ${code}; INFO ${JSON.stringify(await c.info(f))}`);
  const out = c.nodes[f]!.output;
  t.log(`'dropping peer' lines: ${(out.match(/dropping peer/g) ?? []).length}`);
  if (code === 'running') t.log(`follower ${f} ${processState(c.nodes[f]!.child?.pid)}; output (tail):\n${out.slice(-4000)}`);
  return { c, f, leader, last, code };
}

serialWithCc('a follower whose InstallSnapshot spool writes fail (EIO) stops; healed, it catches up with the right numbers', async (t) => {
  const { c, f, last, code } = await laggingFollower(t, 'incoming-snapshot-');
  t.not(code, 'running', 'a follower kept running on a disk that fails its snapshot spool');
  t.not(code, 0);
  t.regex(c.nodes[f]!.output, /FATAL writing a received snapshot image failed/);
  t.true(last > 1000);
  await healedCatchesUp(t, c, f, last);
});

serialWithCc('a follower that cannot read back its InstallSnapshot spool (EIO on reads) stops, never installs a cut image; healed, it catches up with the right numbers', async (t) => {
  const { c, f, last, code } = await laggingFollower(t, 'incoming-snapshot-', 'read');
  t.not(code, 'running', 'a follower kept running on a spool it cannot read');
  t.not(code, 0);
  t.regex(c.nodes[f]!.output, /FATAL[^\n]*(EIO|i\/o error)/);
  await healedCatchesUp(t, c, f, last);
});

serialWithCc('a follower whose Raft metadata writes fail (EIO) during an InstallSnapshot stops; healed, it catches up with the right numbers', async (t) => {
  const { c, f, last, code } = await laggingFollower(t, 'raft/data.mdb', 'write,sync', true);
  t.not(code, 'running');
  t.not(code, 0);
  await healedCatchesUp(t, c, f, last);
});

/** The victim restarted on a healed disk (no preload) catches up and, leading, serves the next number. */
async function healedCatchesUp(t: ExecutionContext, c: Cluster, f: number, last: number): Promise<void> {
  const now = await c.waitForLeader(3, 15_000, c.alive().map((n) => n.index));
  c.spawn(f);
  const commit = Number((await c.info(now))!.commit_index);
  await c.waitApplied(f, commit);
  const reply = await getOnceLeading(c, now, f, 'snap');
  t.is(reply, `:${last}`);
  t.is((await command(c.nodes[f]!.port, ['INC', 'b', 'snap'], 3000)).trim(), `:${last + 1}`);
}

serialWithCc('a lagging follower whose log write fails (EIO) as it resumes stops; healed, it catches up with the right numbers', async (t) => {
  const { c, f, last, code } = await laggingFollower(t, 'raft/wal/seg-', 'write,sync', true);
  t.not(code, 'running');
  t.not(code, 0);
  await healedCatchesUp(t, c, f, last);
});
