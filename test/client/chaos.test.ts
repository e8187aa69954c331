import test from 'ava';
import { createClient } from '../../client/index.ts';
import { FakeServer, FakeState, type Action } from './fake-server.ts';
import { gaplessDefect, seededRandom, seedFromEnv } from './helpers.ts';

/**
 * Randomized, seeded: 8 clients INC one sequence through two fake routers over one state while
 * requests are dropped before/after applying, delayed, swallowed or refused with TRYAGAIN, and
 * one router is restarted. Every call must return, and the numbers must be exactly 1..n. Run
 * twice: one call at a time per client, and with mergeIncs and four loops per client (blocks
 * retried under the same faults).
 */
for (const merge of [false, true]) test(`8 clients under seeded faults get unique, gapless numbers${merge ? ' (mergeIncs, 4 loops each)' : ''}`, async (t) => {
  const seed = seedFromEnv();
  t.log(`seed ${seed} (rerun with SEQDB_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  const state = new FakeState();
  const routers = [new FakeServer(state), new FakeServer(state)];
  for (const r of routers) await r.start();
  t.teardown(async () => {
    for (const r of routers) await r.stop();
  });
  const faulty = (): Action | undefined => {
    const x = random();
    if (x < 0.03) return { drop: 'after' };
    if (x < 0.06) return { drop: 'before' };
    if (x < 0.09) return { reply: '-TRYAGAIN busy\r\n' };
    if (x < 0.1) return { delayMs: Math.floor(random() * 30) };
    if (x < 0.105) return { hang: true };
    return undefined;
  };
  for (const r of routers) r.script = faulty;
  const clients = Array.from({ length: 8 }, (_, i) =>
    createClient({
      routers: i % 2 === 0 ? [routers[0]!.address, routers[1]!.address] : [routers[1]!.address, routers[0]!.address],
      attemptTimeoutMs: 150,
      connectTimeoutMs: 150,
      backoffBaseMs: 5,
      backoffMaxMs: 50,
      deadlineMs: 20_000,
      random: seededRandom(seed + i),
      mergeIncs: merge,
    }),
  );
  const loops = merge ? 4 : 1;
  t.teardown(() => clients.forEach((c) => c.destroy()));
  const callsPerClient = 60;
  const restart = (async () => {
    await new Promise((r) => setTimeout(r, 100));
    const port = routers[0]!.port;
    await routers[0]!.stop();
    await new Promise((r) => setTimeout(r, 150));
    await routers[0]!.start(port);
  })();
  const results = await Promise.all(
    clients.flatMap((client) => Array.from({ length: loops }, async () => {
      const got: bigint[] = [];
      for (let i = 0; i < callsPerClient; i++) got.push(await client.inc('b', 's', { count: 1 }));
      return got;
    })),
  );
  await restart;
  const all = results.flat();
  t.is(all.length, 8 * loops * callsPerClient);
  t.is(gaplessDefect(all), null, `seed ${seed}`);
  t.is(state.values.get('b\u0000s'), BigInt(all.length));
  for (const [token, count] of state.applied) t.is(count, 1, `token ${token} applied twice; seed ${seed}`);
  if (merge) t.true(state.applied.size < all.length, `blocks were formed: ${state.applied.size} tokens for ${all.length} numbers`);
  // Each loop's own numbers increase: a retried call never returned an older one.
  for (const got of results) t.true(got.every((v, i) => i === 0 || v > got[i - 1]!), `seed ${seed}`);
  await Promise.all(clients.map((c) => c.close()));
});
