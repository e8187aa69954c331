/**
 * Hostile input over real sockets against a real `seqdb dev` process: the server stays up,
 * its memory (RSS from /proc) stays bounded, other clients are unaffected and data untouched.
 */
import test, { type ExecutionContext } from 'ava';
import { connect, type Socket } from 'node:net';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { startDev, type DevProcess } from '../helpers/dev-process.ts';
import { startTestNode } from '../helpers/single-node.ts';
import { tempDir } from '../helpers/temp-dir.ts';

/** Growth of the server's RSS any of these attacks may cause. The unbounded versions need GBs. */
const RSS_GROWTH_MAX_KIB = 256 * 1024;

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed || socket.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => (clearTimeout(timer), resolve(true)));
  });
}

/** mulberry32: a seeded PRNG so a failing garbage run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A running server with one known sequence and a bystander client that must stay served. */
async function target(t: ExecutionContext) {
  const server = await startDev(t, await tempDir(t));
  const bystander = await RespClient.connect(server.port);
  t.teardown(() => bystander.close());
  await bystander.call('SET', 'keep', 'me', '12345');
  const baselineKiB = server.rssKiB();
  const healthy = async () => {
    t.is(await bystander.call('GET', 'keep', 'me'), ':12345\r\n', 'data untouched');
    t.regex(await bystander.call('INC', 'other', 'seq'), /^:[0-9]+\r\n$/, 'bystander served');
    const growth = server.rssKiB() - baselineKiB;
    t.log(`server RSS ${baselineKiB} KiB -> +${growth} KiB`);
    t.true(growth < RSS_GROWTH_MAX_KIB, `server RSS grew by ${growth} KiB`);
    t.is(server.child.exitCode, null, 'server still running');
  };
  return { server, healthy };
}

async function expectProtocolErrorAndClose(t: ExecutionContext, server: DevProcess, bytes: Buffer) {
  const socket = await rawSocket(server.port);
  let reply = '';
  socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  socket.write(bytes);
  t.true(await closedWithin(socket, 5000));
  t.regex(reply, /^-ERR Protocol error: [^\r\n]+\r\n$/);
}

test('huge declared lengths and endless lines: protocol error, closed, memory bounded', async (t) => {
  const { server, healthy } = await target(t);
  await expectProtocolErrorAndClose(t, server, Buffer.from('*1\r\n$999999999999\r\n'));
  await expectProtocolErrorAndClose(t, server, Buffer.from('*3\r\n$3\r\nSET\r\n$2000000000\r\nxx'));
  await expectProtocolErrorAndClose(t, server, Buffer.from('*99999999999\r\n'));
  await expectProtocolErrorAndClose(t, server, Buffer.alloc(1 << 20, 'a'));
  await expectProtocolErrorAndClose(t, server, Buffer.from('INC "unbalanced\r\n'));
  await healthy();
});

test('garbage bytes on many connections never disturb other clients', async (t) => {
  const seed = Number(process.env['SEQDB_TEST_SEED'] ?? Date.now() % 1_000_000);
  t.log(`seed ${seed} (replay with SEQDB_TEST_SEED=${seed})`);
  const random = prng(seed);
  const { server, healthy } = await target(t);
  const sockets = await Promise.all(Array.from({ length: 50 }, () => rawSocket(server.port)));
  for (const socket of sockets) {
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    const garbage = Buffer.alloc(4096 + Math.floor(random() * 60_000));
    for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(random() * 256);
    if (random() < 0.5) garbage[0] = 0x2a; // start like a RESP array half the time
    socket.write(garbage);
  }
  await healthy();
  for (const socket of sockets) socket.destroy();
  await healthy();
});

test('thousands of half-sent requests on many connections cost bounded memory', async (t) => {
  const { server, healthy } = await target(t);
  const sockets: Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  const half = Buffer.from('*3\r\n$3\r\nINC\r\n$1\r\nb\r\n$10\r\nabc');
  const bigHalf = Buffer.concat([Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$60000\r\n'), Buffer.alloc(50_000, 'x')]);
  for (let i = 0; i < 2000; i++) {
    const socket = await rawSocket(server.port);
    socket.on('error', () => undefined);
    socket.write(i % 10 === 0 ? bigHalf : half);
    sockets.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const info = await (async () => {
    const c = await RespClient.connect(server.port);
    try {
      return await c.call('INFO');
    } finally {
      c.close();
    }
  })();
  t.regex(info, /connected_clients:200[0-9]\r\n/);
  await healthy();
});

for (const [kind, request, count] of [
  ['big ECHO replies', encodeRequest('ECHO', 'x'.repeat(60_000)), 2000],
  ['tiny pipelined PINGs', Buffer.from('PING\r\n'.repeat(10_000)), 2000],
] as const) {
  test(`a client that never reads (${kind}) is dropped past the output bound; others unaffected`, async (t) => {
    const { server, healthy } = await target(t);
    const hog = await rawSocket(server.port);
    hog.on('error', () => undefined);
    hog.pause(); // never read a reply
    // Far more replies than the bound; bounded in count, and stops once the server drops us.
    for (let i = 0; i < count && !hog.destroyed; i++) {
      if (!hog.write(request)) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    t.true(await closedWithin(hog, 20_000), 'the non-reading client was not dropped');
    await healthy();
  });
}

test('connections beyond the bound are refused with -BUSY; existing ones keep working', async (t) => {
  const node = await startTestNode(t, { server: { connectionsMax: 3 } });
  const clients = await Promise.all([0, 1, 2].map(() => RespClient.connect(node.address.port)));
  t.teardown(() => clients.forEach((c) => c.close()));
  for (const c of clients) t.is(await c.call('PING'), '+PONG\r\n');
  const extra = await rawSocket(node.address.port);
  let reply = '';
  extra.on('data', (chunk: Buffer) => (reply += chunk.toString()));
  t.true(await closedWithin(extra, 5000));
  t.regex(reply, /^-BUSY max number of clients reached\r\n$/);
  t.is(await clients[2]!.call('INC', 'b', 's'), ':1\r\n');
});

test('a request left half-sent past the request timeout is answered with a protocol error and dropped', async (t) => {
  // 1 s bound, 200 ms steps: a loaded box may stall the steady writer for up to 800 ms.
  const node = await startTestNode(t, { server: { requestTimeoutMs: 1000 } });
  const half = await rawSocket(node.address.port);
  let reply = '';
  half.on('data', (chunk: Buffer) => (reply += chunk.toString()));
  half.write('*3\r\n$3\r\nINC\r\n$1\r\nb\r\n$10\r\nabc');
  // A slow but steady pipeline whose chunks end mid-request is not cut off.
  const steady = await RespClient.connect(node.address.port);
  t.teardown(() => steady.close());
  const request = encodeRequest('INC', 'b', 's');
  steady.write(request.subarray(0, 5));
  for (let i = 0; i < 8; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Completes one request and starts the next in the same chunk: 1.6 s of steady progress.
    steady.write(Buffer.concat([request.subarray(5), request.subarray(0, 5)]));
  }
  steady.write(request.subarray(5));
  t.deepEqual(await steady.take(9), Array.from({ length: 9 }, (_, i) => `:${i + 1}\r\n`));
  t.true(await closedWithin(half, 5000));
  t.regex(reply, /^-ERR Protocol error: request not completed within 1000 ms\r\n$/);
  t.is(steady.socket.destroyed, false);
});
