// A review: a router stopping (SIGTERM: Router.close) gave its connections 1 s to finish, while a
// command may retry for its whole deadline (5 s: a failover, a slot move). An INC still retrying
// was cut off with its connection, and its client could not know whether it took a number: with
// no ID of its own, a gap it cannot see. Commands in flight now finish within their deadline.
import test from 'ava';
import { startRouter } from '../../router/router.ts';
import { RespClient } from '../helpers/resp-client.ts';
import { catalogNode, fakeNode, type FakeNode } from './fake-node.ts';

test('a router that stops lets a command that is still retrying finish and answers it', async (t) => {
  const startedMs = Date.now();
  let opened = false;
  // The shard's leader refuses INCs (TRYAGAIN, as during a slot move) for its first 2.5 s.
  const leader = await fakeNode((args) => {
    if (args[0] !== 'INC') return '+OK\r\n';
    if (!opened && Date.now() - startedMs < 2500) return '-TRYAGAIN slot is moving\r\n';
    opened = true;
    return ':41\r\n';
  });
  const nodes: FakeNode[] = [leader];
  const cat = await catalogNode(() => nodes.map((n) => n.address));
  t.teardown(() => Promise.all([cat.close(), leader.close()]));
  const router = await startRouter({ port: 0, join: [cat.address], log: () => {} });
  const port = Number(router.address.split(':').at(-1));
  const c = await RespClient.connect(port);
  t.teardown(() => c.close());
  const reply = c.call('INC', 'b', 's');
  await new Promise((r) => setTimeout(r, 300));
  const closed = router.close();
  t.is((await reply).trim(), ':41', 'answered, not cut off');
  await closed;
});
