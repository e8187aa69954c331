/**
 * The router's status page data (router/admin/status-collector.ts) from nodes' INFO, polled over
 * real sockets from scripted nodes: what it flags.
 */
import test from 'ava';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { StatusCollector } from '../../router/admin/status-collector.ts';
import { ShardMap } from '../../router/shard-map.ts';
import { fakeNode } from './fake-node.ts';

/** A node that answers INFO with these fields. */
async function infoNode(t: import('ava').ExecutionContext, fields: Record<string, string | number>) {
  const text = Object.entries(fields).map(([k, v]) => `${k}:${v}`).join('\r\n');
  const node = await fakeNode((args) => (args[0]?.toUpperCase() === 'INFO' ? `$${Buffer.byteLength(text)}\r\n${text}\r\n` : '-ERR unexpected\r\n'));
  t.teardown(() => node.close());
  return node;
}

async function collected(addrs: string[]) {
  const map = new ShardMap();
  map.update({ epoch: 1, shards: [{ id: '1', addrs, slots: new SlotSet() }] });
  const collector = new StatusCollector({ cluster: 'c', router: () => 'r', map, stats: { requests: 0, errors: 0 }, periodMs: 50 });
  try {
    for (let i = 0; i < 100 && collector.status().shards[0]!.nodes.some((n) => !n.up); i++) await new Promise((r) => setTimeout(r, 20));
    return collector.status().shards[0]!;
  } finally {
    collector.stop();
  }
}

test('a node whose state checks found its state damaged makes its shard unhealthy', async (t) => {
  const leader = await infoNode(t, { role: 'leader', node_id: 'a', term: 3, commit_index: 500, applied_index: 500, state_damaged: 0 });
  const healthy = await infoNode(t, { role: 'follower', node_id: 'b', term: 3, commit_index: 500, applied_index: 500, state_damaged: 0 });
  const damaged = await infoNode(t, { role: 'follower', node_id: 'c', term: 3, commit_index: 500, applied_index: 500, state_damaged: 400 });
  const shard = await collected([leader.address, healthy.address, damaged.address]);
  t.false(shard.healthy);
  t.deepEqual(shard.problems, ['1 node(s) with a damaged state']);
  t.is(shard.nodes.find((n) => n.nodeId === 'c')!.stateDamaged, 400);
  const fine = await collected([leader.address, healthy.address]);
  t.true(fine.healthy, fine.problems.join('; '));
});
