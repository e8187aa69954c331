/**
 * Real Redis clients with DEFAULT options against a real `seqdb dev` process.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { startDev, type DevProcess } from '../helpers/dev-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const run = promisify(execFile);

async function dev(t: Parameters<typeof tempDir>[0]): Promise<DevProcess> {
  return startDev(t, await tempDir(t));
}

test('ioredis with default options: SET, GET, INC, COUNT, ID, errors, pipeline', async (t) => {
  const server = await dev(t);
  const redis = new Redis(server.port, '127.0.0.1');
  t.teardown(() => redis.disconnect());
  t.is(await redis.call('INC', 'b', 's'), 1);
  t.is(await redis.call('INC', 'b', 's', 'COUNT', '5'), 6);
  t.is(await redis.call('SET', 'b', 's', '100'), 'OK');
  await t.throwsAsync(redis.get('x'), { message: "ERR wrong number of arguments for 'get'" });
  t.is(await redis.call('GET', 'b', 's'), 100);
  t.is(await redis.call('GET', 'b', 'never'), null);
  t.is(await redis.call('INC', 'b', 's', 'ID', 'tok-1'), 101);
  t.is(await redis.call('INC', 'b', 's', 'ID', 'tok-1'), 101);
  await t.throwsAsync(redis.call('FROB'), { message: "ERR unknown command 'FROB'" });
  const pipeline = redis.pipeline();
  for (let i = 0; i < 50; i++) pipeline.call('INC', 'b', 'p');
  const results = (await pipeline.exec())!;
  t.deepEqual(results.map(([, v]) => v), Array.from({ length: 50 }, (_, i) => i + 1));
  t.is(await redis.ping(), 'PONG');
  const info = await redis.info();
  t.regex(info, /connected_clients:1/);
  // redis-cli --stat reads these two.
  t.true(Number(/total_commands_processed:(\d+)/.exec(info)?.[1]) >= 60);
  t.regex(info, /total_connections_received:1\r\n/);
});

test('node-redis v5 with default options: SET, GET, INC, COUNT, ID, errors', async (t) => {
  const server = await dev(t);
  const client = createClient({ socket: { port: server.port, host: '127.0.0.1', reconnectStrategy: false } });
  client.on('error', () => undefined);
  await client.connect();
  t.teardown(() => client.destroy());
  const send = (args: string[]): Promise<unknown> => client.sendCommand(args) as Promise<unknown>;
  t.is(await send(['INC', 'b', 's']), 1);
  t.is(await send(['INC', 'b', 's', 'COUNT', '5']), 6);
  t.is(await send(['SET', 'b', 's', '100']), 'OK');
  t.is(await send(['GET', 'b', 's']), 100);
  t.is(await send(['GET', 'b', 'never']), null);
  t.is(await send(['INC', 'b', 's', 'ID', 'tok-1']), 101);
  t.is(await send(['INC', 'b', 's', 'ID', 'tok-1']), 101);
  await t.throwsAsync(send(['INC', 'b']), { message: "ERR wrong number of arguments for 'inc'" });
  const many = await Promise.all(Array.from({ length: 50 }, () => send(['INC', 'b', 'p'])));
  t.deepEqual(many, Array.from({ length: 50 }, (_, i) => i + 1));
  t.is(await client.ping(), 'PONG');
});

test('redis-cli: commands as arguments and over stdin', async (t) => {
  const which = await run('which', ['redis-cli']).catch(() => null);
  if (which === null) {
    t.log('redis-cli not installed: skipped');
    t.pass();
    return;
  }
  const server = await dev(t);
  const cli = async (...args: string[]) => (await run('redis-cli', ['-p', String(server.port), ...args])).stdout;
  t.is(await cli('INC', 'b', 's'), '1\n');
  t.is(await cli('INC', 'b', 's', 'COUNT', '9'), '10\n');
  t.is(await cli('SET', 'b', 's', '42'), 'OK\n');
  t.is(await cli('GET', 'b', 's'), '42\n');
  t.is(await cli('GET', 'b', 'never'), '\n');
  t.is(await cli('PING'), 'PONG\n');
  t.is((await cli('INC', 'b')).trim(), "ERR wrong number of arguments for 'inc'");
  const child = execFile('redis-cli', ['-p', String(server.port)]);
  child.stdin!.end('INC b s\nINC b s ID x\nINC b s ID x\nGET b s\n');
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  t.is(out, '43\n44\n44\n44\n');
});

// MULTI/EXEC is not supported. Clients send MULTI, the commands and EXEC in one write: the
// commands ran while the client was told the transaction failed, taking numbers nobody got (a
// review). Now the whole transaction is refused, nothing run, as Redis does after an error inside
// MULTI (EXECABORT).
test('ioredis and node-redis multi(): refused as a whole, nothing taken', async (t) => {
  const server = await dev(t);
  const redis = new Redis(server.port, '127.0.0.1');
  t.teardown(() => redis.disconnect());
  await t.throwsAsync(redis.multi().call('INC', 'b', 's').call('INC', 'b', 's').exec(), { message: /EXECABORT/ });
  t.is(await redis.call('GET', 'b', 's'), null);
  const client = createClient({ socket: { port: server.port, host: '127.0.0.1', reconnectStrategy: false } });
  client.on('error', () => undefined);
  await client.connect();
  t.teardown(() => client.destroy());
  await t.throwsAsync(client.multi().addCommand(['INC', 'b', 's']).addCommand(['INC', 'b', 's']).exec());
  t.is(await client.sendCommand(['GET', 'b', 's']) as unknown, null);
  // Out of the transaction, everything runs again.
  t.is(await redis.call('INC', 'b', 's'), 1);
});

test('MULTI over the wire: every command up to EXEC or DISCARD is refused unrun', async (t) => {
  const server = await dev(t);
  const redis = new Redis(server.port, '127.0.0.1');
  t.teardown(() => redis.disconnect());
  const answers = await redis.pipeline().call('MULTI').call('INC', 'b', 's').call('EXEC').call('MULTI').call('SET', 'b', 's', '9').call('DISCARD').call('INC', 'b', 's').exec();
  t.deepEqual(answers!.map(([err, v]) => (err ? err.message.split(' ')[0] : v)), ['ERR', 'ERR', 'EXECABORT', 'ERR', 'ERR', 'OK', 1]);
});

// A client configured with a password against a server without one: Redis 7 answers `AUTH pw`
// "-ERR AUTH <password> called without any password configured..." (ioredis only warns) and
// `AUTH default pw` +OK. SeqDB answered "unknown command": ioredis failed every command and
// node-redis could not connect (a review).
test('ioredis and node-redis with a password against a server without one connect, as with Redis', async (t) => {
  const server = await dev(t);
  const redis = new Redis(server.port, '127.0.0.1', { password: 'x', maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  t.teardown(() => redis.disconnect());
  t.is(await redis.call('INC', 'b', 's'), 1);
  const client = createClient({ socket: { port: server.port, host: '127.0.0.1', reconnectStrategy: false }, username: 'default', password: 'x' });
  client.on('error', () => undefined);
  await client.connect();
  t.teardown(() => client.destroy());
  t.is(await client.sendCommand(['INC', 'b', 's']) as unknown, 2);
});
