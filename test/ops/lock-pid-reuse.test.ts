/**
 * A review: the data-dir LOCK holds only a pid. After a reboot (or a container restart) the
 * pid of the killed node is often reused by an unrelated process; the node then refuses to start
 * ("in use by process N") although data-dir-lock.ts's header and the README say a lock left by
 * kill -9, a crash or a reboot is taken over. Here the stale LOCK names a live `sleep` (any other
 * process that got the old pid).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, mkdir, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seqdb } from '../ops/helpers.ts';

test('a LOCK whose pid now belongs to an unrelated process (pid reused after a reboot) is taken over', async (t) => {
  t.timeout(60_000);
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-lockpid-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const other = spawn('sleep', ['60'], { stdio: 'ignore' }); // not seqdb: it just got the old pid
  t.teardown(() => other.kill('SIGKILL'));
  await mkdir(join(dir, 'd'));
  await writeFile(join(dir, 'd', 'LOCK'), `${other.pid}\n`); // left by the node killed before the reboot
  const hourAgo = new Date(Date.now() - 3600_000); // it was written then; the pid's new process started since
  await utimes(join(dir, 'd', 'LOCK'), hourAgo, hourAgo);
  const dev = seqdb(t, ['dev', '--port', '0', '--data', join(dir, 'd'), '--log-level', 'warn']);
  let out = '';
  try {
    await dev.waitFor(/listening on/, 20_000);
  } catch (err) {
    out = (err as Error).message.slice(0, 400);
  }
  t.is(out, '', 'the node refused to start');
});
