import test from 'ava';
import { ShardClient, StepTimeout } from '../../node/rebalance/shard-client.ts';
import { fakeNode } from '../router/fake-node.ts';

test('a NOTLEADER naming another shard is not followed: that shard leader is not the one asked for', async (t) => {
  const otherLeader = await fakeNode(() => '+OK\r\n');
  const otherFollower = await fakeNode(() => `-NOTLEADER 2 ${otherLeader.address}\r\n`);
  const client = new ShardClient({ stepDeadlineMs: 300, backoffMs: 20 });
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
