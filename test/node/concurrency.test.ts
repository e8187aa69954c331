import test from 'ava';
import { RespClient, encodeRequest, intOf } from '../helpers/resp-client.ts';
import { startTestNode } from '../helpers/single-node.ts';
import { startSingleNode } from '../../node/single/single-node.ts';

test('20 concurrent clients x 100 INC on one sequence get exactly 1..2000', async (t) => {
  const node = await startTestNode(t);
  const clients = await Promise.all(Array.from({ length: 20 }, () => RespClient.connect(node.address.port)));
  t.teardown(() => clients.forEach((c) => c.close()));
  const perClient = await Promise.all(
    clients.map(async (c) => {
      const got: bigint[] = [];
      for (let i = 0; i < 100; i++) got.push(intOf(await c.call('INC', 'bucket', 'seq')));
      return got;
    }),
  );
  for (const got of perClient) {
    // Each client's own values rise: its INCs are applied in the order it sent them.
    t.true(got.every((v, i) => i === 0 || v > got[i - 1]!));
  }
  const all = perClient.flat().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  t.deepEqual(all, Array.from({ length: 2000 }, (_, i) => BigInt(i + 1)));
});

test('concurrent INCs on different sequences of one bucket behave as if run one at a time', async (t) => {
  const node = await startTestNode(t);
  const clients = await Promise.all(Array.from({ length: 10 }, () => RespClient.connect(node.address.port)));
  t.teardown(() => clients.forEach((c) => c.close()));
  // Pipelined: all requests race into the same group-commit batches.
  await Promise.all(
    clients.map(async (c, i) => {
      c.write(Buffer.concat(Array.from({ length: 50 }, () => encodeRequest('INC', 'b', `s${i % 3}`, 'COUNT', '2'))));
      await c.take(50);
    }),
  );
  const check = clients[0]!;
  const totals: bigint[] = [];
  for (const s of [0, 1, 2]) totals.push(intOf(await check.call('GET', 'b', `s${s}`)));
  t.deepEqual(totals, [4n * 50n * 2n, 3n * 50n * 2n, 3n * 50n * 2n]);
});

test('a GET sees every write acknowledged before it was sent, from any connection', async (t) => {
  const node = await startTestNode(t);
  const writer = await RespClient.connect(node.address.port);
  const reader = await RespClient.connect(node.address.port);
  t.teardown(() => (writer.close(), reader.close()));
  for (let i = 1; i <= 200; i++) {
    const acked = intOf(await writer.call('INC', 'b', 's'));
    t.is(intOf(await reader.call('GET', 'b', 's')), acked);
  }
});

test('restart on the same data dir resumes exactly where it stopped', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.is(await c.call('INC', 'b', 's', 'COUNT', '41'), ':41\r\n');
  t.is(await c.call('INC', 'b', 's', 'ID', 'keep-me'), ':42\r\n');
  t.is(await c.call('SET', 'b', 'other', '7'), '+OK\r\n');
  c.close();
  await node.close();
  const again = await startSingleNode({ dataDir: node.dataDir, server: { port: 0 } });
  t.teardown(() => again.close());
  const c2 = await RespClient.connect(again.address.port);
  t.teardown(() => c2.close());
  t.is(await c2.call('INC', 'b', 's', 'ID', 'keep-me'), ':42\r\n');
  t.is(await c2.call('INC', 'b', 's'), ':43\r\n');
  t.is(await c2.call('GET', 'b', 'other'), ':7\r\n');
  t.regex(await c2.call('INFO'), /\r\nsequences:2\r\n/);
});

test('graceful close answers requests already received before closing', async (t) => {
  const node = await startTestNode(t);
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  c.write(Buffer.concat(Array.from({ length: 500 }, () => encodeRequest('INC', 'b', 's'))));
  const first = await c.next();
  const closing = node.close();
  const rest = await c.take(499);
  await closing;
  t.is(first, ':1\r\n');
  t.is(rest.at(-1), ':500\r\n');
  await c.closed;
});
