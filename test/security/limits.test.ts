/**
 * Per-process limits on a real server socket, each with its error and its INFO counter:
 * connections, request size and argument count, output buffer of a client that reads nothing,
 * idle clients; internal connections (cluster secret proved) are exempt from the idle timeout.
 */
import test from 'ava';
import { startSingleNode } from '../../node/single/single-node.ts';
import { NodePool } from '../../router/node-connection.ts';
import { ClusterSecret } from '../../shared/security/cluster-proof.ts';
import { RespClient } from '../helpers/resp-client.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { runSeqdb, startDev, tempDir as devTempDir } from '../client/dev-process.ts';
import { join } from 'node:path';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function node(t: Parameters<typeof tempDir>[0], server: Parameters<typeof startSingleNode>[0]['server']) {
  const n = await startSingleNode({ dataDir: await tempDir(t), server: { port: 0, ...server } });
  t.teardown(() => n.close());
  return n;
}

async function infoOf(port: number): Promise<string> {
  const c = await RespClient.connect(port);
  try {
    return await c.call('INFO');
  } finally {
    c.close();
  }
}

test('connections beyond maxclients are refused with -BUSY and counted', async (t) => {
  const n = await node(t, { connectionsMax: 2 });
  const a = await RespClient.connect(n.address.port);
  const b = await RespClient.connect(n.address.port);
  t.teardown(() => (a.close(), b.close()));
  t.is(await a.call('PING'), '+PONG\r\n');
  const c = await RespClient.connect(n.address.port);
  t.regex(await c.next(), /^-BUSY max number of clients reached/);
  await c.closed;
  b.close();
  await sleep(50);
  t.regex(await infoOf(n.address.port), /rejected_connections:1\r\n/);
});

test('too many arguments and too large requests get clear errors and are counted', async (t) => {
  const n = await node(t, { requestLimits: { argsMax: 4, requestBytesMax: 1024 } });
  const c = await RespClient.connect(n.address.port);
  t.teardown(() => c.close());
  t.regex(await c.call('INC', 'b', 's', 'COUNT', '1', 'ID', 'x'), /^-ERR /);
  t.is(await c.call('PING'), '+PONG\r\n', 'a non-fatal limit error keeps the connection');
  c.write(`*2\r\n$4\r\nECHO\r\n$5000\r\n`);
  t.regex(await c.next(), /^-ERR Protocol error/);
  await c.closed;
  t.regex(await infoOf(n.address.port), /request_limit_errors:2\r\n/);
});

test('a client that reads none of its replies is dropped at the output bound and counted', async (t) => {
  const n = await node(t, { outputBytesMax: 64 * 1024, outputStallMs: 1000 });
  const c = await RespClient.connect(n.address.port);
  c.socket.pause(); // reads nothing
  const big = 'x'.repeat(8000);
  const request = Buffer.from(`*2\r\n$4\r\nECHO\r\n$${big.length}\r\n${big}\r\n`.repeat(50));
  for (let i = 0; i < 100 && !c.socket.destroyed; i++) {
    c.socket.write(request);
    await sleep(10);
  }
  await Promise.race([c.closed, sleep(5000)]);
  t.true(c.socket.destroyed || c.socket.readableEnded, 'dropped');
  t.regex(await infoOf(n.address.port), /output_buffer_clients_closed:1\r\n/);
});

test('--timeout closes idle clients but not internal connections that proved the cluster secret', async (t) => {
  const secret = 'limits-test-cluster-secret';
  const n = await node(t, { idleTimeoutMs: 400, security: { clusterSecret: secret, log: () => {} } });
  const address = `127.0.0.1:${n.address.port}`;
  const idle = await RespClient.connect(n.address.port);
  const pool = new NodePool({ clusterSecret: new ClusterSecret(secret) });
  t.teardown(() => pool.closeAll());
  t.true((await pool.send(address, ['PING'], 1000)).ok);
  const internal = pool.get(address);
  await idle.closed;
  await sleep(600);
  t.true(internal.alive, 'the internal connection outlived the idle timeout');
  const out = await pool.send(address, ['PING'], 1000);
  t.true(out.ok);
  t.is(pool.get(address), internal, 'same connection');
  t.regex(await infoOf(n.address.port), /idle_clients_closed:1\r\n/);
});

test('seqdb dev --maxclients sets the connection limit (INFO shows it); a bad value is a usage error', async (t) => {
  const dir = await devTempDir('seqdb-maxclients-');
  const dev = await startDev(join(dir.path, 'data'), 0, 20_000, ['--maxclients', '2']);
  t.teardown(async () => {
    await dev.kill();
    await dir.remove();
  });
  const a = await RespClient.connect(dev.port);
  const b = await RespClient.connect(dev.port);
  t.teardown(() => (a.close(), b.close()));
  t.regex(await a.call('INFO'), /maxclients:2\r\n/);
  const c = await RespClient.connect(dev.port);
  t.regex(await c.next(), /^-BUSY max number of clients reached/);
  for (const bad of ['0', '-1', '1000001', 'many']) {
    const run = await runSeqdb(['dev', '--port', '0', '--data', join(dir.path, 'unused'), `--maxclients=${bad}`]);
    t.is(run.code, 2, `--maxclients ${bad}: ${run.stderr}`);
    t.regex(run.stderr, /--maxclients must be an integer in 1\.\.1000000/);
  }
});
