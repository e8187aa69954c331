/**
 * The data commands as tools, on real `seqdb dev` processes (cases a review found): they
 * authenticate like `seqdb status` (`--requirepass` or SEQDB_PASSWORD; every one failed NOAUTH
 * against `--requirepass`), and `seqdb audit` into a pipe that closes early exits quietly.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { ROOT, SEQDB, runSeqdb, startDev, tempDir } from './dev-process.ts';

test('seqdb inc, get, set and audit take --requirepass or SEQDB_PASSWORD; without either, NOAUTH (exit 1)', async (t) => {
  const dir = await tempDir('seqdb-cli-auth-');
  const dev = await startDev(dir.path, 0, 20_000, ['--requirepass', 's3cretpw']);
  t.teardown(async () => {
    await dev.kill();
    await dir.remove();
  });
  const router = ['--router', `127.0.0.1:${dev.port}`];
  const env = { ...process.env, SEQDB_PASSWORD: 's3cretpw' };
  const without = await runSeqdb(['inc', 'b', 's', ...router], { env: { ...process.env, SEQDB_PASSWORD: '' } });
  t.is(without.code, 1);
  t.regex(without.stderr, /NOAUTH/);
  const viaEnv = await runSeqdb(['inc', 'b', 's', ...router], { env });
  t.is(viaEnv.code, 0, viaEnv.stderr);
  t.is(viaEnv.stdout.trim(), '1');
  const viaFlag = await runSeqdb(['set', 'b', 's', '5', ...router, '--requirepass', 's3cretpw'], { env: { ...process.env, SEQDB_PASSWORD: '' } });
  t.is(viaFlag.code, 0, viaFlag.stderr);
  const get = await runSeqdb(['get', 'b', 's', ...router, '--requirepass', 's3cretpw']);
  t.is(get.stdout.trim(), '5');
  const audit = await runSeqdb(['audit', 'b', 's', '--to', '2', ...router], { env });
  t.is(audit.code, 0, audit.stderr);
});

test('seqdb audit piped into a reader that stops early (| head) exits 0 without a stack trace', async (t) => {
  const dir = await tempDir('seqdb-cli-epipe-');
  const dev = await startDev(dir.path);
  t.teardown(async () => {
    await dev.kill();
    await dir.remove();
  });
  const router = `127.0.0.1:${dev.port}`;
  t.is((await runSeqdb(['inc', 'b', 's', '--count', '50000', '--router', router])).stdout.trim(), '50000');
  const child = spawn(process.execPath, [SEQDB, 'audit', 'b', 's', '--router', router], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy(); // the reader goes away after its first line
  t.is(await exited, 0, stderr);
  t.notRegex(stderr, /EPIPE|Error/);
});
