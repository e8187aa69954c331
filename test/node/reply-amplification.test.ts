/**
 * Found by a review: a small pipelined request stream whose replies are large. The output bound
 * was checked only after the replies of a whole batch were built and concatenated into one
 * write, so ~55 KB of `SEQ.LIST ... COUNT 1000` requests made the server build ~770 MB of
 * replies at once, stall other clients for seconds, and drop a router's shared connection.
 * Requests now wait while the replies owed would pass the budget (node/server/reply-estimate.ts).
 */
import test from 'ava';
import { connect } from 'node:net';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { devNodePids, rssKiB, startDev, untilServing } from '../helpers/dev-process.ts';
import { freePortRange } from '../helpers/port-range.ts';
import { tempDir } from '../helpers/temp-dir.ts';

/** The same bound test/node/hostile.test.ts holds the server's RSS growth to. */
const RSS_GROWTH_MAX_KIB = 256 * 1024;

/**
 * 1000 sequences with 256-byte names in bucket L: each SEQ.LIST COUNT 1000 answers ~264 KB.
 * Whether every INC answered 1.
 */
async function fillBucketL(client: RespClient): Promise<boolean> {
  const names = Array.from({ length: 1000 }, (_, i) => String(i).padStart(4, '0') + 'x'.repeat(252));
  let ok = true;
  for (let i = 0; i < names.length; i += 100) {
    // A shard's first moments may refuse a merged burst with TRYAGAIN (nothing taken: its leader
    // has not yet heard every member say it applies INCS); clients send those again, so do we.
    let batch = names.slice(i, i + 100);
    for (let attempt = 0; batch.length > 0 && attempt < 50; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 100));
      client.write(Buffer.concat(batch.map((name) => encodeRequest('INC', 'L', name))));
      const replies = await client.take(batch.length);
      ok = replies.every((r) => r === ':1\r\n' || r.startsWith('-TRYAGAIN')) && ok;
      batch = batch.filter((_, j) => replies[j]!.startsWith('-TRYAGAIN'));
    }
    ok = batch.length === 0 && ok;
  }
  return ok;
}

test('a pipelined burst of SEQ.LIST (one 55 KB write) keeps memory bounded and other clients served', async (t) => {
  const server = await startDev(t, await tempDir(t));
  const setup = await RespClient.connect(server.port);
  t.teardown(() => setup.close());
  await fillBucketL(setup);
  await setup.call('SET', 'keep', 'me', '12345');
  const baselineKiB = server.rssKiB();

  const attacker = connect({ port: server.port, host: '127.0.0.1' });
  attacker.on('error', () => undefined);
  let received = 0;
  attacker.on('data', (c: Buffer) => (received += c.length));
  const closed = new Promise<void>((resolve) => attacker.once('close', () => resolve()));
  const request = encodeRequest('SEQ.LIST', 'L', 'COUNT', '1000');
  attacker.write(Buffer.concat(Array.from({ length: 1200 }, () => request)));

  // A bystander's GET, sent while the burst is being served.
  await new Promise((r) => setTimeout(r, 200));
  const bystander = await RespClient.connect(server.port);
  t.teardown(() => bystander.close());
  const started = Date.now();
  t.is(await bystander.call('GET', 'keep', 'me'), ':12345\r\n');
  const bystanderMs = Date.now() - started;
  // Replies flow as fast as the attacker reads; what matters is what the server holds meanwhile.
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
  attacker.destroy();
  const growthKiB = server.rssKiB() - baselineKiB;
  t.log(`attacker sent ${request.length * 1200} bytes, received ${received}; server RSS +${growthKiB} KiB; bystander GET took ${bystanderMs} ms`);
  t.is(server.child.exitCode, null, 'server still running');
  t.true(growthKiB < RSS_GROWTH_MAX_KIB, `server RSS grew by ${growthKiB} KiB (bound ${RSS_GROWTH_MAX_KIB})`);
  t.true(bystanderMs < 2000, `bystander GET took ${bystanderMs} ms`);
});

test('through a router: the same burst keeps every replica bounded and a bystander INCing', async (t) => {
  t.timeout(240_000);
  const started = Date.now();
  const port = await freePortRange(4, true);
  const dev = await startDev(t, await tempDir(t), ['--nodes', '3', '--port', String(port), '--log-level', 'warn'], 60_000);
  const nodePids = await devNodePids(t, dev, 3);
  const setup = await RespClient.connect(dev.port);
  t.teardown(() => setup.close());
  await untilServing(setup);
  t.true(await fillBucketL(setup));
  t.log(`setup done after ${Date.now() - started} ms`);
  const nodes = nodePids;
  t.is(nodes.length, 3);
  const baseline = nodes.map((pid) => rssKiB(pid));

  // A bystander INCs one at a time for the whole run; every reply must be a number.
  const bystander = await RespClient.connect(dev.port);
  t.teardown(() => bystander.close());
  const bad: string[] = [];
  let oks = 0;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const reply = await bystander.call('INC', 'by', 'stander');
      if (/^:[0-9]+\r\n$/.test(reply)) oks++;
      else bad.push(reply);
    }
  })();

  await new Promise((r) => setTimeout(r, 300));
  const attacker = connect({ port: dev.port, host: '127.0.0.1' });
  attacker.on('error', () => undefined);
  attacker.on('data', () => undefined);
  // 100 x ~264 KB: past the 8 MiB bound of the router's shared node connection three times over.
  attacker.write(Buffer.concat(Array.from({ length: 100 }, () => encodeRequest('SEQ.LIST', 'L', 'COUNT', '1000'))));
  await new Promise((r) => setTimeout(r, 8000));
  stop = true;
  await loop;
  attacker.destroy();
  const growth = nodes.map((pid, i) => rssKiB(pid) - baseline[i]!);
  t.log(`load done after ${Date.now() - started} ms`);
  for (let i = 1; i <= 3; i++) {
    const c = await RespClient.connect(port + i);
    const info = await c.call('INFO');
    c.close();
    t.log(`node on ${port + i}: ${/output_buffer_clients_closed:[0-9]+/.exec(info)?.[0]}`);
  }
  t.log(`node RSS growth KiB: ${growth.join(', ')}; bystander ${oks} ok, ${bad.length} errors: ${bad.slice(0, 2).join(' | ')}`);
  t.deepEqual(bad, [], 'every bystander INC answered with a number');
  for (const g of growth) t.true(g < RSS_GROWTH_MAX_KIB, `a node's RSS grew by ${g} KiB (bound ${RSS_GROWTH_MAX_KIB})`);
});

test('a client that reads every reply is not dropped for pipelining 40 SEQ.LIST (10.5 MB of replies)', async (t) => {
  const server = await startDev(t, await tempDir(t));
  const setup = await RespClient.connect(server.port);
  t.teardown(() => setup.close());
  await fillBucketL(setup);
  const one = await setup.call('SEQ.LIST', 'L', 'COUNT', '1000');
  const expected = Buffer.byteLength(one, 'latin1') * 40;

  const reader = connect({ port: server.port, host: '127.0.0.1' });
  reader.on('error', () => undefined);
  let received = 0;
  const done = new Promise<boolean>((resolve) => {
    reader.on('data', (c: Buffer) => {
      received += c.length; // read at once, as fast as the socket delivers
      if (received >= expected) resolve(true);
    });
    reader.once('close', () => resolve(false));
    setTimeout(() => resolve(false), 30_000);
  });
  reader.write(Buffer.concat(Array.from({ length: 40 }, () => encodeRequest('SEQ.LIST', 'L', 'COUNT', '1000'))));
  const complete = await done;
  reader.destroy();
  t.log(`received ${received} of ${expected} bytes`);
  t.true(complete, `connection closed after ${received} of ${expected} bytes although the client read everything`);
});
