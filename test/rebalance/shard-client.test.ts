import test from 'ava';
import { ShardClient, StepTimeout } from '../../node/rebalance/shard-client.ts';
import { fakeNode } from '../router/fake-node.ts';
import { RespClient } from '../helpers/resp-client.ts';
import { startTestNode } from '../helpers/single-node.ts';

test('a NOTLEADER naming another shard is not followed: that shard leader is not the one asked for', async (t) => {
  const otherLeader = await fakeNode(() => '+OK\r\n');
  const otherFollower = await fakeNode(() => `-NOTLEADER 2 ${otherLeader.address}\r\n`);
  // Long enough for one answer on a loaded box: a CI run's 300 ms saw none, only its timeout.
  const client = new ShardClient({ stepDeadlineMs: 2000, backoffMs: 20 });
  t.teardown(async () => {
    client.close();
    await Promise.all([otherLeader.close(), otherFollower.close()]);
  });
  // Shard 3's address hints name a node of shard 2 (a stale or reused address).
  const err = await t.throwsAsync(client.call('3', () => [otherFollower.address], ['CLUSTER', 'IMPORTSTATUS', '7', 'AA==']));
  t.true(err instanceof StepTimeout);
  t.regex(err!.message, /is a node of shard 2, not 3/);
  t.deepEqual(otherLeader.seen, []);
  // Asked for shard 2, the same hint is followed.
  const reply = await client.call('2', () => [otherFollower.address], ['CLUSTER', 'IMPORTSTATUS', '7', 'AA==']);
  t.deepEqual(reply, { kind: 'string', value: Buffer.from('OK') });
});

test('after useCluster, a node of another cluster is not used (SEQDB.IDENT): its steps never run there', async (t) => {
  const other = await startTestNode(t, { server: { cluster: 'b' } });
  const client = new ShardClient({ stepDeadlineMs: 300, backoffMs: 20 });
  t.teardown(() => client.close());
  client.useCluster('a');
  const err = await t.throwsAsync(client.call('1', () => [`127.0.0.1:${other.address.port}`], ['INC', 'x', 's']));
  t.true(err instanceof StepTimeout);
  const check = await RespClient.connect(other.address.port);
  t.teardown(() => check.close());
  t.is(await check.call('GET', 'x', 's'), '$-1\r\n', 'nothing ran on the node of cluster b');
});
