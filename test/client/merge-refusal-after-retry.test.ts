import test from 'ava';
import { createClient, type SeqClient } from '../../client/index.ts';
import { freePort } from '../replication/helpers/cluster.ts';
import { startDev, tempDir } from './dev-process.ts';

/**
 * A review: a merged block (or INCS) refused as `increment would overflow` is re-sent one call at a
 * time only when the refusal came at its FIRST attempt (inc-merger.ts `err.attempts === 1`). A
 * first attempt that was certainly not applied (connection refused, TRYAGAIN, NOTLEADER...)
 * changes nothing about that, but then every merged caller gets the overflow error: callers of
 * another sequence of the bucket that is nowhere near the maximum, and callers whose number was
 * still below it.
 */
async function setup(t: any, first: 'dead' | 'none'): Promise<{ client: SeqClient; seed: SeqClient }> {
  const dir = await tempDir('seqdb-overflow-');
  t.teardown(() => dir.remove());
  const server = await startDev(dir.path);
  t.teardown(() => server.kill());
  const live = `127.0.0.1:${server.port}`;
  const dead = `127.0.0.1:${await freePort()}`; // nothing listens: connection refused, nothing sent
  const seed = createClient({ routers: [live] });
  t.teardown(() => seed.destroy());
  const client = createClient({ routers: first === 'dead' ? [dead, live] : [live], mergeIncs: true, backoffBaseMs: 10 });
  t.teardown(() => client.destroy());
  return { client, seed };
}

for (const first of ['none', 'dead'] as const) {
  test(`merged INCS of two sequences, one at the maximum (first router ${first}): the other caller gets its number`, async (t) => {
    const { client, seed } = await setup(t, first);
    await seed.set('b', 'full', 9223372036854775807n);
    const [full, fresh] = await Promise.allSettled([client.inc('b', 'full'), client.inc('b', 'fresh')]);
    t.log(`full: ${full.status === 'fulfilled' ? full.value : (full.reason as Error).message}; fresh: ${fresh.status === 'fulfilled' ? fresh.value : (fresh.reason as Error).message}`);
    t.is(full.status, 'rejected');
    t.deepEqual(fresh, { status: 'fulfilled', value: 1n });
  });

  test(`merged block of 3 with 1 number left (first router ${first}): one caller gets it`, async (t) => {
    const { client, seed } = await setup(t, first);
    await seed.set('b', 's', 9223372036854775806n);
    const got = await Promise.allSettled([client.inc('b', 's'), client.inc('b', 's'), client.inc('b', 's')]);
    t.log(got.map((g) => (g.status === 'fulfilled' ? String(g.value) : (g.reason as Error).message)).join(' | '));
    t.is(got.filter((g) => g.status === 'fulfilled').length, 1);
  });
}

// The same cause during a rolling upgrade: an older server refuses INCS as unknown. After a first
// attempt refused with TRYAGAIN (nothing applied), plain inc() calls fail with `ERR unknown
// command 'INCS'` instead of going one at a time. (Fake server: an older build is not at hand.)
import { FAST_RETRIES, startFake } from './fake-server.ts';
test('an INCS refused as unknown after a TRYAGAIN: the calls go one at a time, never fail with unknown command', async (t) => {
  const server = await startFake(t);
  const client = createClient({ routers: [server.address], mergeIncs: true, ...FAST_RETRIES });
  t.teardown(() => client.destroy());
  let incs = 0;
  server.script = (args) => {
    if (args[0] !== 'incs') return undefined;
    incs++;
    return { reply: incs === 1 ? '-TRYAGAIN slot moving\r\n' : "-ERR unknown command 'INCS'\r\n" };
  };
  const got = await Promise.allSettled(['x', 'y'].map((s) => client.inc('b', s)));
  t.log(got.map((g) => (g.status === 'fulfilled' ? String(g.value) : (g.reason as Error).message)).join(' | '));
  t.deepEqual(got, [{ status: 'fulfilled', value: 1n }, { status: 'fulfilled', value: 1n }]);
});
