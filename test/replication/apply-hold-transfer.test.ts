/**
 * The follower apply hold (node/replication/apply-pipeline.ts `hold`) under leadership moves: a
 * follower holding committed entries becomes leader under INC load again and again, and a GET on
 * it at once must see every INC acknowledged before the move (a new leader that skipped its held
 * entries answered `:1` after 440 were acknowledged). Real processes, real sockets, real LMDB.
 * Seeded (HOLD_SEED=n replays which follower each move picks); a helper's review test, adopted.
 */
import test from 'ava';
import { Cluster, RetryingIncClient, checkIncHistory, command, sleep, type IncOp } from './helpers/cluster.ts';
import { rng } from '../helpers/token-log.ts';

const CLIENTS = 8;
const SEED = Number(process.env.HOLD_SEED ?? Date.now() % 2 ** 31);

test('leadership moves to a follower that holds entries, under INC load: a GET there at once sees every acknowledged INC; every number once, no gap', async (t) => {
  t.timeout(120_000);
  t.log(`seed ${SEED} (HOLD_SEED=${SEED} to replay)`);
  const r = rng(SEED);
  const c = await Cluster.start(t, { size: 3 });
  await c.waitForLeader(3);
  const ops: IncOp[] = [];
  const ports = c.nodes.map((n) => n.port);
  const stopAt = Date.now() + 8000;
  const clients = Array.from({ length: CLIENTS }, (_, i) => new RetryingIncClient(i, ports));
  const load = Promise.all(clients.map(async (cl) => {
    for (let op = 0; op < 100_000 && Date.now() < stopAt; op++) ops.push(await cl.inc('b', 'k', op, stopAt + 15_000));
    cl.close();
  }));
  let transfers = 0;
  for (let round = 0; round < 100 && Date.now() < stopAt - 500; round++) {
    await sleep(150 + r(150));
    const lead = await c.waitForLeader(3, 3000).catch(() => -1);
    if (lead < 0) continue;
    const to = [0, 1, 2].filter((i) => i !== lead)[r(2)]!;
    const id = (await c.info(to))?.node_id;
    if (!id) continue;
    const reply = await command(c.nodes[lead]!.port, ['SEQDB.TRANSFER', id], 3000).catch(() => '');
    if (reply.startsWith('+OK')) transfers++;
    const acked = ops.reduce((m, o) => (o.value !== null && o.value > m ? o.value : m), 0n);
    const got = (await command(c.nodes[to]!.port, ['GET', 'b', 'k'], 3000).catch(() => '')).trim();
    if (got.startsWith(':')) t.true(BigInt(got.slice(1)) >= acked, `seed ${SEED}: GET on the new leader ${to} = ${got}, but ${acked} was acknowledged before`);
  }
  await load;
  t.log(`${ops.length} INCs, ${transfers} transfers`);
  t.true(transfers >= 5, `seed ${SEED}: only ${transfers} transfers`);
  t.deepEqual(checkIncHistory(ops), [], `seed ${SEED}`);
  const lead = await c.waitForLeader(3);
  t.is((await command(c.nodes[lead]!.port, ['GET', 'b', 'k'], 3000)).trim(), `:${ops.length}`);
});

test('--apply-hold-ms reaches the followers: at 1000 they trail the commit for a while after one INC, at 0 they do not', async (t) => {
  t.timeout(90_000);
  /** The followers' applied indexes soon after one INC, and the leader's commit index. */
  async function afterOneInc(holdMs: number): Promise<{ commit: number; followers: number[] }> {
    const c = await Cluster.start(t, { size: 3, extraArgs: ['--apply-hold-ms', String(holdMs)] });
    const lead = await c.waitForLeader(3);
    const others = [0, 1, 2].filter((i) => i !== lead);
    const applied = (): Promise<number[]> => Promise.all(others.map(async (i) => Number((await c.info(i))?.applied_index)));
    // First nothing held (the election's entries applied), so the INC's entry starts a new hold.
    const settled = Date.now() + 20_000;
    for (let commit = -1; Date.now() < settled; await sleep(50)) {
      commit = Number((await c.info(lead))?.commit_index);
      if ((await applied()).every((a) => a === commit)) break;
    }
    await command(c.nodes[lead]!.port, ['INC', 'b', 'k'], 5000);
    await sleep(200); // heartbeats (every 50 ms) have told the followers the commit
    const commit = Number((await c.info(lead))?.commit_index);
    return { commit, followers: await applied() };
  }
  const held = await afterOneInc(1000);
  t.true(held.followers.every((a) => a < held.commit), `held 1000 ms: ${JSON.stringify(held)}`);
  const at0 = await afterOneInc(0);
  t.true(at0.followers.every((a) => a === at0.commit), `hold 0: ${JSON.stringify(at0)}`);
});
