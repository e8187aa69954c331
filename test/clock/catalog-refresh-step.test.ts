/**
 * Clock review: a router's catalog refresh spaces fetches with Date.now (catalog-source.ts:40).
 * A router host whose clock is stepped back (NTP step, VM resume) computes a "gap" as long as the
 * step and sleeps it, with every later refresh joined to that one fetch: the router cannot learn
 * a moved slot, a new shard or a catalog leader for the length of the step.
 */
import test from 'ava';
import { CatalogSource } from '../../router/catalog-source.ts';
import { ShardMap } from '../../router/shard-map.ts';
import type { NodePool } from '../../router/node-connection.ts';

test('a router whose clock steps back 15 s still refreshes its catalog within a second', async (t) => {
  let asked = 0;
  const pool = { send: async () => { asked++; return { ok: false, why: 'unreachable' }; } } as unknown as NodePool;
  const source = new CatalogSource({ pool, map: new ShardMap(), seeds: () => ['127.0.0.1:1'] });
  const realNow = Date.now;
  let offset = 0;
  Date.now = () => realNow() + offset;
  t.teardown(() => { Date.now = realNow; });

  await source.refresh(); // a fetch at time T
  t.is(asked, 1);
  offset = -15_000; // the host's clock is stepped back 15 s (an hour waits an hour; 15 s lets the test end)
  await new Promise((r) => setTimeout(r, 300)); // more than the 200 ms gap
  const second = source.refresh();
  const done = await Promise.race([second.then(() => 'fetched'), new Promise((r) => setTimeout(() => r('still waiting after 2 s'), 2000))]);
  t.is(done, 'fetched');
  t.is(asked, 2);
});
