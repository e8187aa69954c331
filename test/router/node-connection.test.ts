import test from 'ava';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { RequestDecoder } from '../../shared/protocol/index.ts';
import { NodeConnection, encodeArgs, type SendOutcome } from '../../router/node-connection.ts';
import { RespClient } from '../helpers/resp-client.ts';
import { startTestNode } from '../helpers/single-node.ts';

/** A node that answers every request `+OK` after `delayMs`, in order, or never (delay null). */
async function slowNode(t: { teardown(fn: () => unknown): void }, delayMs: number | null) {
  const sockets = new Set<Socket>();
  let closed = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      closed++;
    });
    socket.on('error', () => undefined);
    const decoder = new RequestDecoder({
      onRequest: () => {
        if (delayMs !== null) setTimeout(() => socket.destroyed || socket.write('+OK\r\n'), delayMs);
      },
      onError: () => socket.destroy(),
    });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, closed: () => closed };
}

const SET = encodeArgs(['SET', 'b', 's', '5']);
const timed = async (p: Promise<SendOutcome>, start: number) => ({ outcome: await p, ms: Date.now() - start });

test('a request past its own deadline fails alone: the others on the connection get their replies', async (t) => {
  const node = await slowNode(t, 400);
  const conn = new NodeConnection(node.address);
  t.teardown(() => conn.close());
  const start = Date.now();
  const short = timed(conn.send(SET, 100), start);
  const long = timed(conn.send(SET, 3000), start);
  const first = await short;
  t.deepEqual(first.outcome, { ok: false, why: 'timeout' });
  t.true(first.ms < 350, `the short request failed after ${first.ms} ms`);
  const second = await long;
  // Its reply is the node's second +OK, not the first one's late reply taken for it.
  t.deepEqual(second.outcome, { ok: true, reply: { kind: 'string', value: Buffer.from('OK') } });
  t.true(conn.alive);
  t.is(node.closed(), 0);
  // The late first reply was matched to the request that gave up, so the next one lines up too.
  const third = await conn.send(SET, 3000);
  t.true(third.ok);
});

test('a node that answers nothing is dropped once the oldest request waited its timeout and stallMs', async (t) => {
  const node = await slowNode(t, null);
  const conn = new NodeConnection(node.address, { stallMs: 300 });
  t.teardown(() => conn.close());
  const start = Date.now();
  const short = timed(conn.send(SET, 50), start);
  const long = timed(conn.send(SET, 10_000), start);
  t.deepEqual((await short).outcome, { ok: false, why: 'timeout' });
  const second = await long;
  t.deepEqual(second.outcome, { ok: false, why: 'timeout' });
  t.true(second.ms >= 300 && second.ms < 2000, `dropped after ${second.ms} ms`);
  t.false(conn.alive);
});

test('a request waiting longer than stallMs by its own timeout is not cut short', async (t) => {
  const node = await slowNode(t, 600);
  const conn = new NodeConnection(node.address, { stallMs: 200 });
  t.teardown(() => conn.close());
  const out = await conn.send(SET, 3000);
  t.true(out.ok);
  t.true(conn.alive);
});

test('SEQDB.IDENT: a node of another cluster answers -WRONGCLUSTER and runs nothing sent behind it; the dialer does not use it', async (t) => {
  const node = await startTestNode(t, { server: { cluster: 'a' } });
  const raw = await RespClient.connect(node.address.port);
  raw.write(Buffer.concat([encodeArgs(['SEQDB.IDENT', 'b']), encodeArgs(['INC', 'x', 's'])]));
  t.regex(await raw.next(), /^-WRONGCLUSTER this node is of cluster a, not b\r\n$/);
  await raw.closed;
  const check = await RespClient.connect(node.address.port);
  t.teardown(() => check.close());
  t.is(await check.call('SEQDB.IDENT', 'a'), '+OK\r\n');
  t.is(await check.call('GET', 'x', 's'), '$-1\r\n', 'the INC behind the refused IDENT never ran');
  const logs: string[] = [];
  const conn = new NodeConnection(`127.0.0.1:${node.address.port}`, { cluster: 'b', log: (l) => logs.push(l) });
  t.deepEqual(await conn.send(encodeArgs(['INC', 'x', 's']), 2000), { ok: false, why: 'unreachable' });
  t.regex(logs.join('\n'), /not using node .*cluster a, not b/);
  const same = new NodeConnection(`127.0.0.1:${node.address.port}`, { cluster: 'a' });
  t.teardown(() => same.close());
  t.deepEqual(await same.send(encodeArgs(['INC', 'x', 's']), 2000), { ok: true, reply: { kind: 'integer', value: 1n } });
});

test('requests still queued for the write when the connection dies were never sent: unreachable, not lost', async (t) => {
  const node = await slowNode(t, 50);
  const conn = new NodeConnection(node.address);
  t.teardown(() => conn.close());
  t.true((await conn.send(SET, 3000)).ok); // connected
  const written = conn.send(SET, 3000);
  await new Promise((r) => setImmediate(r)); // this turn's write went out
  const queued = conn.send(SET, 3000);
  // The socket breaks in the poll phase that queued the second one, before its write: as when a
  // node's close is read in the same phase as client requests bound for it.
  (conn as unknown as { kill(reason: 'lost'): void }).kill('lost');
  t.deepEqual(await written, { ok: false, why: 'lost' }, 'sent: may have run');
  t.deepEqual(await queued, { ok: false, why: 'unreachable' }, 'never sent: certainly did not run');
});
