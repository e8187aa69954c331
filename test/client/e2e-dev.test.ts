import test from 'ava';
import { ClientErrorCode, createClient } from '../../client/index.ts';
import { startDev, tempDir } from './dev-process.ts';
import { gaplessDefect, settle } from './helpers.ts';

/**
 * The exactly-once promise end to end against the real `seqdb dev`: 8 library clients INC one
 * sequence while the server is killed with SIGKILL and restarted on the same data, twice. Four
 * of them merge their calls (mergeIncs) and run four loops each, so blocks are retried across
 * the kills too.
 * Every call must return a number; together the numbers must be exactly 1..n, and the server's
 * value afterwards must be n.
 */
test('8 clients keep numbers unique and gapless across kill -9 and restart of seqdb dev', async (t) => {
  const dir = await tempDir('seqdb-client-e2e-');
  t.teardown(() => dir.remove());
  let server = await startDev(dir.path);
  t.teardown(() => server.kill());
  const address = `127.0.0.1:${server.port}`;
  const clients = Array.from({ length: 8 }, (_, i) =>
    createClient({ routers: [address], deadlineMs: 60_000, attemptTimeoutMs: 2000, backoffBaseMs: 20, backoffMaxMs: 250, mergeIncs: i >= 4 }),
  );
  const workers = clients.flatMap((client, i) => Array.from({ length: i >= 4 ? 4 : 1 }, () => client));
  t.teardown(() => clients.forEach((c) => c.destroy()));

  const hardStopAtMs = Date.now() + 20_000;
  const callsPerClientMax = 2000;
  let done = false;
  let completed = 0;
  const load = Promise.all(
    workers.map(async (client) => {
      const got: bigint[] = [];
      // Bounded in count and time; runs until the kills and restarts are over.
      while (!done && got.length < callsPerClientMax && Date.now() < hardStopAtMs) {
        got.push(await client.inc('e2e', 'seq'));
        completed += 1;
      }
      return got;
    }),
  );
  const completedAtKill: number[] = [];
  for (const pauseMs of [500, 500]) {
    // Kill only under load: some INCs completed since the last restart.
    const since = completed;
    await settle(pauseMs, () => completed >= since + 20);
    const port = server.port;
    completedAtKill.push(completed);
    await server.kill();
    await new Promise((r) => setTimeout(r, 200));
    server = await startDev(dir.path, port);
  }
  const completedAtLastRestart = completed;
  await settle(500, () => completed >= completedAtLastRestart + 20);
  done = true;
  const results = await load;
  const all = results.flat();
  t.log(`${all.length} INCs; completed at the kills: ${completedAtKill.join(', ')}; at the last restart: ${completedAtLastRestart}`);
  t.true(completedAtKill[0]! > 0, 'INCs completed before the first kill');
  t.true(all.length > completedAtLastRestart, 'INCs completed after the last restart');
  t.true(all.length < workers.length * callsPerClientMax, 'the load was still running at the kills');
  t.is(gaplessDefect(all), null);
  for (const got of results) t.true(got.every((v, i) => i === 0 || v > got[i - 1]!), 'each loop saw increasing numbers');
  const reader = createClient({ routers: [address] });
  t.is(await reader.get('e2e', 'seq'), BigInt(all.length));
  await reader.close();
  await Promise.all(clients.map((c) => c.close()));
});

test('a timed token older than the retention window is ERR_TOKEN_EXPIRED, never a fresh number', async (t) => {
  const dir = await tempDir('seqdb-client-expired-');
  t.teardown(() => dir.remove());
  const server = await startDev(dir.path, 0, 20_000, ['--token-retention-ms', '60000']);
  t.teardown(() => server.kill());
  const client = createClient({ routers: [`127.0.0.1:${server.port}`] });
  t.teardown(() => client.destroy());
  const err = await t.throwsAsync(client.inc('b', 's', { id: `${Date.now() - 3_600_000}-stale` }));
  t.is((err as { code?: string }).code, ClientErrorCode.TOKEN_EXPIRED);
  t.is(await client.get('b', 's'), null);
  t.is(await client.inc('b', 's'), 1n);
  await client.close();
});
