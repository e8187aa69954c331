/**
 * README: "Admin: `seqdb node admin status|transfer ID|remove ID|snapshot --addr H:P`". Without
 * --shard the admin client said hello as shard '0', which every node of a real shard refuses: the
 * documented command never worked (a docs review). It now asks again as the shard the refusal names.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { tempDir } from '../helpers/temp-dir.ts';
import { freePort } from './helpers/cluster.ts';

test('seqdb node admin status --addr H:P (as documented, no --shard) answers', async (t) => {
  const port = String(await freePort());
  const dir = await tempDir(t);
  const node = spawn(process.execPath, ['bin/seqdb.js', 'node', '--shard', '1', '--port', port, '--data', dir,
    '--join', `127.0.0.1:${port}`, '--bootstrap-expect', '1', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => node.kill('SIGKILL'));
  await new Promise<void>((resolve) => node.stdout!.on('data', (d) => { if (String(d).includes('listening on')) resolve(); }));
  await new Promise((r) => setTimeout(r, 1500));
  const withShard = spawnSync(process.execPath, ['bin/seqdb.js', 'node', 'admin', 'status', '--addr', `127.0.0.1:${port}`, '--shard', '1'], { encoding: 'utf8', timeout: 30_000 });
  t.is(withShard.status, 0, 'with --shard 1 it works: ' + withShard.stderr);
  const documented = spawnSync(process.execPath, ['bin/seqdb.js', 'node', 'admin', 'status', '--addr', `127.0.0.1:${port}`], { encoding: 'utf8', timeout: 30_000 });
  t.is(documented.status, 0, documented.stderr.trim());
  const [a, b] = [JSON.parse(documented.stdout), JSON.parse(withShard.stdout)];
  t.is(a.status.role, 'leader');
  t.is(a.status.id, b.status.id, 'the same node answered');
});
