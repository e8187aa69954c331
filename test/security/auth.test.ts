/**
 * Client AUTH against a real `seqdb dev --requirepass` process: the Redis error words, every
 * command but AUTH/HELLO/QUIT refused until authenticated, failures counted and logged without
 * the password, and the password options of redis-cli, ioredis, node-redis and SeqDB's client.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { createClient as createRedisClient } from 'redis';
import { createClient } from '../../client/index.ts';
import { startDev } from '../helpers/dev-process.ts';
import { RespClient } from '../helpers/resp-client.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const run = promisify(execFile);
const PASSWORD = 'correct horse battery';
const WRONG = 'wrong-password-never-logged';
const NOAUTH = '-NOAUTH Authentication required.\r\n';
const WRONGPASS = '-WRONGPASS invalid username-password pair or user is disabled.\r\n';

async function devWithPassword(t: Parameters<typeof tempDir>[0]) {
  return startDev(t, await tempDir(t), ['--requirepass', PASSWORD]);
}

test('until AUTH every command but AUTH, HELLO and QUIT is refused with -NOAUTH', async (t) => {
  const dev = await devWithPassword(t);
  const c = await RespClient.connect(dev.port);
  t.teardown(() => c.close());
  t.is(await c.call('PING'), NOAUTH);
  t.is(await c.call('INC', 'b', 's'), NOAUTH);
  t.is(await c.call('INFO'), NOAUTH);
  t.is(await c.call('CLUSTER', 'CATALOG'), NOAUTH);
  t.is(await c.call('CLIENT', 'SETNAME', 'x'), NOAUTH);
  t.is(await c.call('HELLO', '3'), '-NOPROTO sorry, this protocol version is not supported\r\n'); // clients then stay on RESP2
  t.regex(await c.call('HELLO', '2'), /^-NOAUTH HELLO must be called with the client already authenticated/);
  t.is(await c.call('AUTH', WRONG), WRONGPASS);
  t.is(await c.call('AUTH', 'default', WRONG), WRONGPASS);
  t.is(await c.call('AUTH', 'alice', PASSWORD), WRONGPASS); // only the default user exists
  t.is(await c.call('INC', 'b', 's'), NOAUTH);
  t.is(await c.call('AUTH', 'default', PASSWORD), '+OK\r\n');
  t.is(await c.call('INC', 'b', 's'), ':1\r\n');
  t.is(await c.call('AUTH', PASSWORD), '+OK\r\n');
  const info = await c.call('INFO');
  t.regex(info, /auth_required:1/);
  t.regex(info, /auth_failures:3/);
  t.true(dev.output().includes('AUTH failed'), dev.output());
  t.false(dev.output().includes(WRONG), 'the password attempt is never logged');
  t.false(dev.output().includes(PASSWORD), 'the password is never logged');
  // Pipelined: AUTH first, then commands in the same write.
  const p = await RespClient.connect(dev.port);
  t.teardown(() => p.close());
  p.write(Buffer.from(`*2\r\n$4\r\nAUTH\r\n$${PASSWORD.length}\r\n${PASSWORD}\r\n*3\r\n$3\r\nINC\r\n$1\r\nb\r\n$1\r\ns\r\nQUIT\r\n`));
  t.deepEqual(await p.take(3), ['+OK\r\n', ':2\r\n', '+OK\r\n']);
});

test('redis-cli -a, ioredis and node-redis password options work; no password fails', async (t) => {
  const dev = await devWithPassword(t);
  const port = String(dev.port);
  const ok = await run('redis-cli', ['-p', port, '-a', PASSWORD, '--no-auth-warning', 'INC', 'b', 's']);
  t.is(ok.stdout.trim(), '1');
  const refused = await run('redis-cli', ['-p', port, 'INC', 'b', 's']);
  t.regex(refused.stdout, /NOAUTH/);

  const ioredis = new Redis({ port: dev.port, host: '127.0.0.1', password: PASSWORD });
  t.teardown(() => ioredis.disconnect());
  t.is(await ioredis.call('INC', 'b', 's'), 2);
  const ioredisUser = new Redis({ port: dev.port, host: '127.0.0.1', username: 'default', password: PASSWORD });
  t.teardown(() => ioredisUser.disconnect());
  t.is(await ioredisUser.call('INC', 'b', 's'), 3);
  const ioredisWrong = new Redis({ port: dev.port, host: '127.0.0.1', password: WRONG, maxRetriesPerRequest: 0, enableOfflineQueue: true });
  ioredisWrong.on('error', () => {});
  t.teardown(() => ioredisWrong.disconnect());
  await t.throwsAsync(ioredisWrong.call('INC', 'b', 's'));

  const nodeRedis = createRedisClient({ url: `redis://127.0.0.1:${port}`, password: PASSWORD });
  nodeRedis.on('error', () => {});
  await nodeRedis.connect();
  t.teardown(() => nodeRedis.destroy());
  t.is(Number(await nodeRedis.sendCommand(['INC', 'b', 's'])), 4);

  const seq = createClient({ routers: [`127.0.0.1:${port}`], password: PASSWORD });
  t.teardown(() => seq.close());
  t.is(await seq.inc('b', 's'), 5n);
  const seqWrong = createClient({ routers: [`127.0.0.1:${port}`], password: WRONG, deadlineMs: 2000 });
  t.teardown(() => seqWrong.close());
  const err = await t.throwsAsync(seqWrong.inc('b', 's'));
  t.is((err as { serverCode?: string }).serverCode, 'NOAUTH');
});

test('HELLO 2 AUTH authenticates like Redis 6 (RESP2 facts); a wrong password or HELLO 3 does not', async (t) => {
  const dev = await devWithPassword(t);
  const c = await RespClient.connect(dev.port);
  t.teardown(() => c.close());
  t.is(await c.call('HELLO', '2', 'AUTH', 'default', WRONG), WRONGPASS);
  t.is(await c.call('HELLO', '2', 'AUTH', 'alice', PASSWORD), WRONGPASS); // only the default user exists
  t.is(await c.call('HELLO', '3', 'AUTH', 'default', PASSWORD), '-NOPROTO sorry, this protocol version is not supported\r\n');
  t.is(await c.call('HELLO', '2', 'AUTH', 'default'), "-ERR Syntax error in HELLO option 'AUTH'\r\n");
  t.is(await c.call('INC', 'b', 's'), NOAUTH, 'none of those authenticated');
  const facts = await c.call('HELLO', '2', 'AUTH', 'default', PASSWORD, 'SETNAME', 'app');
  t.regex(facts, /^\*14\r\n\$6\r\nserver\r\n\$5\r\nseqdb\r\n\$7\r\nversion\r\n\$\d+\r\n[0-9.]+\r\n\$5\r\nproto\r\n:2\r\n\$2\r\nid\r\n:\d+\r\n/);
  t.regex(facts, /\$4\r\nmode\r\n\$10\r\nstandalone\r\n\$4\r\nrole\r\n\$6\r\nmaster\r\n\$7\r\nmodules\r\n\*0\r\n$/);
  t.is(await c.call('INC', 'b', 's'), ':1\r\n');
  t.is(await c.call('CLIENT', 'GETNAME'), '$3\r\napp\r\n');
  t.regex(await c.call('HELLO'), /^\*14\r\n/, 'HELLO without a version, once authenticated');
  t.regex(await c.call('INFO'), /auth_failures:2/);
  t.false(dev.output().includes(WRONG), 'the password attempt is never logged');

  // node-redis with RESP: 2 authenticates with HELLO 2 AUTH default <password> SETNAME <name>.
  const nodeRedis = createRedisClient({ url: `redis://127.0.0.1:${dev.port}`, password: PASSWORD, RESP: 2, name: 'nr' });
  nodeRedis.on('error', () => {});
  await nodeRedis.connect();
  t.teardown(() => nodeRedis.destroy());
  t.is(Number(await nodeRedis.sendCommand(['INC', 'b', 's'])), 2);
  t.is(String(await nodeRedis.sendCommand(['CLIENT', 'GETNAME'])), 'nr');
  const nodeRedisWrong = createRedisClient({ url: `redis://127.0.0.1:${dev.port}`, password: WRONG, RESP: 2, socket: { reconnectStrategy: false } });
  nodeRedisWrong.on('error', () => {});
  await t.throwsAsync(nodeRedisWrong.connect(), { message: /WRONGPASS/ });
  if (nodeRedisWrong.isOpen) nodeRedisWrong.destroy();
});

test('idle clients are closed after --timeout seconds; the count shows in INFO', async (t) => {
  const dev = await startDev(t, await tempDir(t), ['--timeout', '1']);
  // Timed from before the connect: the server's idle clock starts at its accept, which a loaded
  // box may report to this process well after (a CI run saw the close < 900 ms after connect).
  const started = Date.now();
  const idle = await RespClient.connect(dev.port);
  await idle.closed;
  t.true(Date.now() - started >= 900, 'not closed before the timeout');
  const c = await RespClient.connect(dev.port);
  t.teardown(() => c.close());
  t.regex(await c.call('INFO'), /idle_clients_closed:1/);
});
