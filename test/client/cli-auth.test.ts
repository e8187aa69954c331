/**
 * The data commands authenticate like `seqdb status` (a review found `seqdb inc|get|set|cli|audit`
 * had no way to: every one failed NOAUTH against `--requirepass`): `--requirepass` or
 * SEQDB_PASSWORD. A real `seqdb dev --requirepass` process.
 */
import test from 'ava';
import { runSeqdb, startDev, tempDir } from './dev-process.ts';

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
