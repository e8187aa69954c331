import test from 'ava';
import { createClient } from '../../client/index.ts';
import { runSeqdb, startDev, tempDir } from './dev-process.ts';

/**
 * A review: an empty `--router` (a script's `--router "$ROUTER"` with ROUTER unset, or `--router ,`)
 * is taken as no flag at all (client/cli/common.ts routersFrom filters empty entries), so the
 * command silently goes to $SEQDB_ROUTERS or 127.0.0.1:7379: here a SET moves a sequence of the
 * cluster the environment names back to 0, under numbers already handed out. A flag given with
 * nothing in it is a usage error (exit 2, nothing sent).
 */
for (const flag of ['', ',']) {
  test(`seqdb set with --router '${flag}' is a usage error, not a SET on $SEQDB_ROUTERS`, async (t) => {
    const dir = await tempDir('seqdb-router-');
    t.teardown(() => dir.remove());
    const server = await startDev(dir.path);
    t.teardown(() => server.kill());
    const other = `127.0.0.1:${server.port}`;
    const client = createClient({ routers: [other] });
    t.teardown(() => client.destroy());
    for (let i = 0; i < 5; i++) await client.inc('invoices', '2026');
    const run = await runSeqdb(['set', 'invoices', '2026', '0', '--router', flag], { env: { SEQDB_ROUTERS: other } });
    t.log(`exit ${run.code}; stdout ${JSON.stringify(run.stdout)}; stderr ${JSON.stringify(run.stderr.slice(0, 200))}`);
    t.is(await client.get('invoices', '2026'), 5n, 'the sequence of the cluster in $SEQDB_ROUTERS was not touched');
    t.is(run.code, 2);
  });
}

/**
 * A review: TLS options that Node refuses (a key or certificate file that is not PEM, a bad
 * minVersion) throw inside the first attempt (client/connection.ts tls.connect), so the call
 * rejects with a raw Error/TypeError, not a ClientError with a code (errors.ts: "Every error the
 * client returns is a ClientError with a stable code"), and `seqdb inc` exits 3 ("outcome
 * unknown or unreachable") instead of 2 (usage: bad flags, nothing sent).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientError } from '../../client/index.ts';
test('TLS material that is not PEM: ERR_INVALID_ARGUMENT, and exit 2 from seqdb inc', async (t) => {
  const dir = await tempDir('seqdb-tls-');
  t.teardown(() => dir.remove());
  const bad = join(dir.path, 'bad.pem');
  await writeFile(bad, 'not a pem file\n');
  const run = await runSeqdb(['inc', 'b', 's', '--tls', '--tls-cert', bad, '--tls-key', bad, '--router', '127.0.0.1:1', '--timeout', '500']);
  t.log(`exit ${run.code}; stderr ${JSON.stringify(run.stderr.trim())}`);
  const err = t.throws(() => createClient({ routers: ['127.0.0.1:1'], tls: { minVersion: 'bogus' as never }, deadlineMs: 500 }));
  t.true(err instanceof ClientError, 'a ClientError with a stable code');
  t.is((err as ClientError).code, 'ERR_INVALID_ARGUMENT', 'at createClient, not inside the first attempt');
  t.is(run.code, 2);
});

/**
 * A review: `seqdb cli` appends every line to ~/.seqdb_history as typed (client/cli/repl.ts
 * appendHistory), `AUTH <password>` included, so the password of a secured cluster stays on disk
 * in clear text. redis-cli keeps AUTH (and HELLO ... AUTH) lines out of its history.
 */
import { readFile } from 'node:fs/promises';
test('seqdb cli keeps AUTH lines (passwords) out of the history file', async (t) => {
  const dir = await tempDir('seqdb-hist-');
  t.teardown(() => dir.remove());
  const histfile = join(dir.path, 'history');
  await runSeqdb(['cli', '--router', '127.0.0.1:1', '--timeout', '200'], { input: 'AUTH s3cret-password\nPING\n', env: { SEQDB_HISTFILE: histfile } });
  const saved = await readFile(histfile, 'utf8');
  t.log(JSON.stringify(saved));
  t.false(saved.includes('s3cret-password'));
});

/**
 * A review: `AUTH <password>` typed at the `seqdb cli` prompt is sent once on the current socket;
 * the client re-authenticates a new connection only with the password it was created with. After
 * the server restarts (or any reconnect), every command of the session is refused NOAUTH, while
 * the prompt looks the same (redis-cli re-sends the AUTH on reconnect).
 */
import { spawn } from 'node:child_process';
import { SEQDB, ROOT } from './dev-process.ts';
test('seqdb cli: a session authenticated with a typed AUTH stays authenticated across a server restart', async (t) => {
  const dir = await tempDir('seqdb-auth-');
  t.teardown(() => dir.remove());
  let server = await startDev(dir.path, 0, 20_000, ['--requirepass', 'pw-1']);
  t.teardown(() => server.kill());
  const port = server.port;
  const child = spawn(process.execPath, [SEQDB, 'cli', '--router', `127.0.0.1:${port}`], { cwd: ROOT, env: { ...process.env, SEQDB_HISTFILE: '' }, stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const lines = async (n: number): Promise<void> => {
    for (let i = 0; i < 100 && out.split('\n').filter(Boolean).length < n; i++) await new Promise((r) => setTimeout(r, 100));
  };
  child.stdin.write('AUTH pw-1\nINC b s\n');
  await lines(2);
  await server.kill();
  server = await startDev(dir.path, port, 20_000, ['--requirepass', 'pw-1']);
  child.stdin.write('INC b s\n');
  await lines(3);
  child.stdin.end();
  t.log(JSON.stringify(out));
  t.deepEqual(out.trim().split('\n'), ['OK', '(integer) 1', '(integer) 2']);
});
