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
  t.regex(await redis.info(), /connected_clients:1/);
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
