import test from 'ava';
import { Cluster, RetryingIncClient, checkIncHistory, command, sleep, type IncOp } from './helpers/cluster.ts';

/** One INC with a token, retried across nodes until `ms` elapse. */
function incOnce(client: RetryingIncClient, op: number, ms: number): Promise<IncOp> {
  return client.inc('b', 'five', op, Date.now() + ms);
}

test('5-node shard serves with 2 nodes down, refuses (no wrong answers) with 3 down, then recovers', async (t) => {
  const c = await Cluster.start(t, { size: 5 });
  const leader = await c.waitForLeader(5, 45_000);
  const ports = c.nodes.map((n) => n.port);
  const client = new RetryingIncClient(0, ports, 500);
  t.teardown(() => client.close());
  const ops: IncOp[] = [];
  for (let i = 0; i < 10; i++) ops.push(await incOnce(client, i, 5000));

  // Two down, the leader among them.
  const others = c.nodes.filter((n) => n.index !== leader).map((n) => n.index);
  c.kill(leader, 'SIGKILL');
  c.kill(others[0]!, 'SIGKILL');
  for (let i = 10; i < 30; i++) ops.push(await incOnce(client, i, 5000));
  t.is(ops.filter((o) => o.value === null).length, 0, 'all INCs answered with 3 of 5 up');

  // Three down: no quorum. Every answer must be an error, never a number.
  c.kill(others[1]!, 'SIGKILL');
  await sleep(300);
  const down = await incOnce(client, 30, 2500);
  t.is(down.value, null, 'no number is handed out without a quorum');
  t.true(client.errors.length > 0);
  for (const port of ports) {
    const reply = await command(port, ['INC', 'b', 'five'], 1500).catch(() => 'no reply');
    t.false(reply.startsWith(':'), `node ${port} answered ${reply.trim()} without a quorum`);
  }

  // Recovery: restart the nodes; the token of the unanswered op is retried and gets ONE number.
  c.spawn(leader);
  c.spawn(others[0]!);
  c.spawn(others[1]!);
  const retried = await client.inc('b', 'five', 30, Date.now() + 30_000);
  t.not(retried.value, null, c.dump());
  ops.push(retried);
  for (let i = 31; i < 40; i++) ops.push(await incOnce(client, i, 10_000));
  t.deepEqual(checkIncHistory(ops), []);
  const newLeader = await c.waitForLeader(5, 20_000);
  t.is((await command(c.nodes[newLeader]!.port, ['GET', 'b', 'five'])).trim(), `:${ops.length}`);
});
