import test from 'ava';
import { createClient } from '../../client/index.ts';
import { gatherStatus } from '../../client/cli/status.ts';
import { Cluster, sleep } from '../replication/helpers/cluster.ts';
import { gaplessDefect, settle } from './helpers.ts';

/**
 * The library against a real 3-node shard (`seqdb node` processes), no router: 8 clients are
 * given the three node addresses in different orders, so some start on followers and must follow
 * NOTLEADER hints. The leader is killed with SIGKILL mid-load and later restarted. Every call
 * must return; the numbers must be exactly 1..n; `status` must see the shard healthy before the
 * kill and flag the dead node after it.
 */
test('8 clients across a kill -9 of the shard leader: unique, gapless, each client increasing', async (t) => {
  const c = await Cluster.start(t, { size: 3 });
  const leader = await c.waitForLeader(3);
  const addresses = c.nodes.map((n) => n.addr);

  const before = await gatherStatus(addresses, 2000);
  t.true(before.healthy, JSON.stringify(before, null, 1));
  t.deepEqual(before.nodes.map((n) => n.summary.role).sort(), ['follower', 'follower', 'leader']);

  const clients = Array.from({ length: 8 }, (_, i) =>
    createClient({
      routers: addresses.map((_, k) => addresses[(i + k) % addresses.length]!),
      deadlineMs: 30_000,
      attemptTimeoutMs: 1000,
      connectTimeoutMs: 500,
      backoffBaseMs: 20,
      backoffMaxMs: 200,
    }),
  );
  t.teardown(() => clients.forEach((cl) => cl.destroy()));

  let done = false;
  let completed = 0;
  const hardStopAtMs = Date.now() + 30_000;
  const load = Promise.all(
    clients.map(async (client) => {
      const got: bigint[] = [];
      while (!done && got.length < 5000 && Date.now() < hardStopAtMs) {
        got.push(await client.inc('b', 'client-e2e'));
        completed += 1;
      }
      return got;
    }),
  );
  await settle(1500, () => completed >= 20);
  const atKill = completed;
  c.kill(leader, 'SIGKILL');
  await sleep(300);
  const during = await gatherStatus(addresses, 1000);
  t.false(during.healthy);
  t.false(during.nodes[leader]!.reachable);
  await settle(1500, () => completed >= atKill + 20);
  const afterFailover = completed;
  c.spawn(leader);
  await sleep(1000);
  done = true;
  const results = await load;
  const all = results.flat();
  t.log(`${all.length} INCs; ${atKill} before the kill, ${afterFailover - atKill} after it until the restart`);
  t.true(atKill > 0);
  t.true(afterFailover > atKill, 'service resumed after the leader was killed');
  t.is(gaplessDefect(all), null);
  for (const got of results) t.true(got.every((v, i) => i === 0 || v > got[i - 1]!), 'each client saw increasing numbers');
  t.is(await clients[0]!.get('b', 'client-e2e'), BigInt(all.length));
  await Promise.all(clients.map((cl) => cl.close()));
});
