/**
 * One process per data dir: a second `seqdb node` or `seqdb dev` started on a live one's dir
 * opened its LMDB environment and Raft log before failing to bind the port, shrank the live
 * data.mdb and cut the live log segment, and the live node died by SIGBUS (found by an ops
 * review). Now the second refuses to start, naming the holder; a lock left by a killed process
 * is taken over.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Cluster, command, sleep } from '../replication/helpers/cluster.ts';
import { startDev } from '../helpers/dev-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function seqdb(args: readonly string[]): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, ['bin/seqdb.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: r.stdout + r.stderr };
}

test('a second seqdb node on a live node\'s data dir refuses to start; the live node keeps serving', async (t) => {
  t.timeout(60_000);
  const c = await Cluster.start(t, { size: 1 });
  const n = c.nodes[0]!;
  await c.waitForLeader(1);
  for (let i = 1; i <= 20; i++) t.is((await command(n.port, ['INC', 'b', 's'], 3000)).trim(), `:${i}`);
  const second = seqdb(['node', '--shard', 's1', '--port', '0', '--data', n.dataDir, '--join', c.joinList]);
  t.not(second.status, 0);
  t.regex(second.output, new RegExp(`data dir .* is in use by process ${n.child!.pid}`));
  await sleep(500);
  t.not(n.child, null, 'the live node is still running');
  t.is((await command(n.port, ['INC', 'b', 's'], 3000)).trim(), ':21');
  // Killed, its lock is stale: the same command line starts again.
  const child = n.child!;
  c.kill(0, 'SIGKILL');
  await new Promise((r) => child.once('exit', r));
  c.spawn(0);
  await c.waitForLeader(1);
  t.is((await command(n.port, ['INC', 'b', 's'], 3000)).trim(), ':22');
});

test('a second seqdb dev on a live one\'s data dir refuses to start', async (t) => {
  const dir = await tempDir(t);
  const dev = await startDev(t, dir);
  const second = seqdb(['dev', '--port', '0', '--data', dir]);
  t.not(second.status, 0);
  t.regex(second.output, new RegExp(`is in use by process ${dev.pid}`));
  t.is((await command(dev.port, ['INC', 'b', 's'], 3000)).trim(), ':1');
});
