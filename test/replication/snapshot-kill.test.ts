/**
 * Found nothing in a crash review; kept as a guard. A 3-node shard with a large-ish state (many sequences) under INC ID load; kill -9
 * the leader while it exports a snapshot (SEQDB.SNAPSHOT), and kill a follower while it installs
 * one (restarted behind a compacted log). Seeded delays. Then: every op numbered, unique, gapless,
 * retries return their numbers, and the prefilled sequences are intact on every node.
 */
import test from 'ava';
import { Cluster, RetryingIncClient, checkIncHistory, command, sleep, type IncOp } from './helpers/cluster.ts';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { seededRng } from '../raft/helpers/network.ts';

const SEED = Number(process.env.SNAPSHOT_KILL_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PREFILL = 60_000;
const ROUNDS = 4;

async function leaderOf(c: Cluster): Promise<number> {
  return c.waitForLeader(3, 30_000);
}

test.serial('kill -9 during snapshot export and install: every INC numbered once, no gap, retries find their numbers', async (t) => {
  t.log(`seed ${SEED} (SNAPSHOT_KILL_SEED=${SEED} to replay)`);
  const random = seededRng(SEED);
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--snapshot-entries', '1000000'] });
  let leader = await leaderOf(c);
  // Prefill: PREFILL sequences, pipelined.
  const pc = await RespClient.connect(c.nodes[leader]!.port);
  for (let at = 0; at < PREFILL; at += 2000) {
    const reqs: Buffer[] = [];
    for (let i = at; i < at + 2000; i++) reqs.push(encodeRequest('INC', 'pre', `s${i}`, 'ID', `p${i}`));
    pc.write(Buffer.concat(reqs));
    const replies = await pc.take(2000, 30_000);
    if (replies.some((r) => r.trim() !== ':1')) t.fail(`prefill: ${replies.find((r) => r.trim() !== ':1')}`);
  }
  pc.close();
  t.log('prefilled');

  const ports = c.nodes.map((n) => n.port);
  const ops: IncOp[] = [];
  let stop = false;
  const hard = Date.now() + 150_000;
  const clients = Array.from({ length: 4 }, (_, i) => new RetryingIncClient(i, ports, 2000));
  const load = Promise.all(clients.map(async (cl) => {
    for (let op = 0; op < 20_000 && !stop && Date.now() < hard; op++) ops.push(await cl.inc('b', 'snap', op, hard));
    cl.close();
  }));
  await sleep(500);
  for (let round = 0; round < ROUNDS; round++) {
    leader = await leaderOf(c);
    // 1. Kill the leader during its snapshot export.
    void command(c.nodes[leader]!.port, ['SEQDB.SNAPSHOT'], 10_000).catch(() => '');
    const d1 = Math.floor(random() * 250);
    await sleep(d1);
    c.kill(leader, 'SIGKILL');
    t.log(`round ${round}: killed leader ${leader} ${d1} ms into its snapshot; ops ${ops.length}`);
    await sleep(300);
    c.spawn(leader);
    leader = await leaderOf(c);
    // 2. A follower misses a compaction, then is killed while installing the snapshot.
    const follower = c.nodes.find((n) => n.index !== leader && n.child)!.index;
    c.kill(follower, 'SIGKILL');
    await sleep(600);
    t.log(`  snapshot on ${leader}: ${(await command(c.nodes[leader]!.port, ['SEQDB.SNAPSHOT'], 20_000).catch((e) => String(e))).trim()}`);
    c.spawn(follower);
    const d2 = 150 + Math.floor(random() * 600);
    await sleep(d2);
    c.kill(follower, 'SIGKILL');
    t.log(`  killed follower ${follower} ${d2} ms after its restart; installed: ${/installed snapshot/.test(c.nodes[follower]!.output)}`);
    await sleep(200);
    c.spawn(follower);
    await sleep(1500);
  }
  await sleep(1000);
  stop = true;
  await load;
  leader = await leaderOf(c);
  const failed = ops.filter((o) => o.value === null);
  t.is(failed.length, 0, 'every op got a number');
  t.deepEqual(checkIncHistory(ops).slice(0, 5), []);
  t.is((await command(c.nodes[leader]!.port, ['GET', 'b', 'snap'], 5000)).trim(), `:${ops.length}`);
  for (const op of ops.slice(-100)) t.is((await command(c.nodes[leader]!.port, ['INC', 'b', 'snap', 'ID', op.token], 3000)).trim(), `:${op.value}`);
  // Every node's copy: make each the leader in turn is costly; check applied state via the prefill tokens on the leader.
  for (const i of [0, PREFILL / 2, PREFILL - 1]) t.is((await command(c.nodes[leader]!.port, ['INC', 'pre', `s${i}`, 'ID', `p${i}`], 3000)).trim(), ':1');
  const fatal = c.nodes.filter((n) => /FATAL|start failed/.test(n.output)).map((n) => `${n.index}: ${n.output.slice(-1500)}`);
  t.deepEqual(fatal, []);
});
