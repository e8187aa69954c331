/**
 * TLS end to end with a CA and certificates made by the test (openssl): a single `seqdb dev`
 * with TLS and a password, used by redis-cli, ioredis and SeqDB's client; and a local cluster
 * (`seqdb dev --shards 2 --nodes 2`) whose router, node-to-node Raft traffic and router/agent
 * connections all run over TLS with a generated cluster secret.
 */
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createClient } from '../../client/index.ts';
import { startDev } from '../helpers/dev-process.ts';
import { freePortRange } from '../helpers/port-range.ts';
import { RespClient } from '../helpers/resp-client.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { makeCerts } from './helpers/certs.ts';
import { exitWithParent } from '../helpers/exit-with-parent.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PASSWORD = 'tls-test-password';

test('seqdb dev over TLS with a password: redis-cli, ioredis and the SeqDB client', async (t) => {
  const certs = makeCerts(await tempDir(t, 'seqdb-certs-'));
  const dev = await startDev(t, await tempDir(t), ['--tls-cert', certs.cert, '--tls-key', certs.key, '--requirepass', PASSWORD]);
  const port = String(dev.port);
  const cli = await run('redis-cli', ['--tls', '--cacert', certs.ca, '-h', '127.0.0.1', '-p', port, '-a', PASSWORD, '--no-auth-warning', 'INC', 'b', 's']);
  t.is(cli.stdout.trim(), '1');
  // A client that does not trust our CA is refused by its own TLS check.
  const untrusted = await run('redis-cli', ['--tls', '-h', '127.0.0.1', '-p', port, '-a', PASSWORD, '--no-auth-warning', 'PING']).catch((e: { stdout: string; stderr: string }) => e);
  t.notRegex(untrusted.stdout, /PONG/);

  const ca = readFileSync(certs.ca);
  const ioredis = new Redis({ port: dev.port, host: '127.0.0.1', password: PASSWORD, tls: { ca } });
  t.teardown(() => ioredis.disconnect());
  t.is(await ioredis.call('INC', 'b', 's'), 2);
  t.regex(String(await ioredis.call('INFO')), /tls:1/);

  const seq = createClient({ routers: [`127.0.0.1:${port}`], password: PASSWORD, tls: { ca } });
  t.teardown(() => seq.close());
  t.is(await seq.inc('b', 's'), 3n);

  // Plain TCP gets no service.
  const plain = await RespClient.connect(dev.port);
  t.teardown(() => plain.close());
  await t.throwsAsync(plain.call('PING'));
});

test('seqdb dev --shards 2 --nodes 2 over TLS with a generated cluster secret serves INC', async (t) => {
  const certs = makeCerts(await tempDir(t, 'seqdb-certs-'));
  const dir = await tempDir(t);
  const port = await freePortRange(5, true);
  const child = spawn(process.execPath, ['bin/seqdb.js', 'dev', '--shards', '2', '--nodes', '2', '--port', String(port),
    '--data', dir, '--requirepass', PASSWORD, '--tls-cert', certs.cert, '--tls-key', certs.key, '--tls-ca', certs.ca],
  exitWithParent('dev', { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SEQDB_CLUSTER_SECRET: '' } }));
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const ca = readFileSync(certs.ca);
  const redis = new Redis({ port, host: '127.0.0.1', password: PASSWORD, tls: { ca }, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 300 });
  redis.on('error', () => {});
  t.teardown(() => redis.disconnect());
  const deadline = Date.now() + 60_000;
  let info = '';
  while (Date.now() < deadline) {
    info = String(await redis.call('INFO').catch(() => ''));
    if (/shards:2/.test(info) && /catalog_epoch:[1-9]/.test(info)) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  t.regex(info, /shards:2/, output);
  t.regex(info, /tls:1/);
  t.regex(info, /cluster_secret:1/);
  const seq = createClient({ routers: [`127.0.0.1:${port}`], password: PASSWORD, tls: { ca } });
  t.teardown(() => seq.close());
  const got = await Promise.all(Array.from({ length: 16 }, (_, b) => seq.inc(`tls${b}`, 's')));
  t.deepEqual(got, Array.from({ length: 16 }, () => 1n));
  // A node directly, over TLS: it too wants the password, and CLUSTER needs the secret.
  const node = new Redis({ port: port + 1, host: '127.0.0.1', tls: { ca }, maxRetriesPerRequest: 0, enableReadyCheck: false });
  node.on('error', () => {});
  t.teardown(() => node.disconnect());
  await t.throwsAsync(node.call('INC', 'b', 's'), { message: /NOAUTH/ });
  t.is(await node.call('AUTH', PASSWORD), 'OK');
  await t.throwsAsync(node.call('CLUSTER', 'CATALOG'), { message: /NOPERM/ });
  // Admin requests are peer control requests: they need the generated secret (kept in the data dir).
  const secret = readFileSync(join(dir, 'cluster-secret'), 'utf8').trim();
  const tlsFlags = ['--tls-cert', certs.cert, '--tls-key', certs.key, '--tls-ca', certs.ca];
  const admin = (extra: string[]) => run(process.execPath, ['bin/seqdb.js', 'node', 'admin', 'status', '--addr', `127.0.0.1:${port + 1}`,
    '--shard', '1', ...tlsFlags, ...extra], { cwd: ROOT, env: { ...process.env, SEQDB_CLUSTER_SECRET: '' } });
  const status = await admin(['--cluster-secret', secret]);
  t.regex(status.stdout, /"status"/);
  await t.throwsAsync(admin(['--cluster-secret', 'not-the-cluster-secret']));
  t.notRegex(output, /not using node|failed to prove/, output);
  child.kill('SIGTERM');
  t.is(await exited, 0, output);
});
