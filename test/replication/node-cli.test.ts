import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbRaftStorage } from '../../node/replication/lmdb-raft-storage.ts';
import { freePort } from './helpers/cluster.ts';

function seqdb(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['bin/seqdb.js', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

test("seqdb node refuses a data dir of another shard or cluster with a clear error", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-nodecli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const s = LmdbRaftStorage.open({ dir, shard: 's1', cluster: 'seqdb' });
  await s.close();
  const port = String(await freePort());
  const other = seqdb(['node', '--shard', 's2', '--port', port, '--data', dir, '--join', `127.0.0.1:${port}`]);
  t.not(other.status, 0);
  t.regex(other.out, /belongs to cluster 'seqdb' shard 's1'/);
  const cluster = seqdb(['node', '--shard', 's1', '--cluster', 'prod', '--port', port, '--data', dir, '--join', `127.0.0.1:${port}`]);
  t.not(cluster.status, 0);
  t.regex(cluster.out, /belongs to cluster 'seqdb'/);
});

test('seqdb node rejects bad flags with a one-line reason', (t) => {
  const r = seqdb(['node', '--port', '1']);
  t.is(r.status, 2);
  t.regex(r.out, /--shard is required/);
  const j = seqdb(['node', '--shard', 's1', '--join', 'nohost']);
  t.is(j.status, 2);
  t.regex(j.out, /--join: bad address 'nohost'/);
  for (const bad of ['1001', '-1', '1.5', 'x']) {
    const h = seqdb(['node', '--shard', 's1', `--apply-hold-ms=${bad}`]);
    t.is(h.status, 2, bad);
    t.regex(h.out, /--apply-hold-ms must be an integer from 0 to 1000/, bad);
  }
  for (const bad of ['-1', '1.5', 'x', '1000000001']) {
    const h = seqdb(['node', '--shard', 's1', `--state-check-entries=${bad}`]);
    t.is(h.status, 2, bad);
    t.regex(h.out, /--state-check-entries must be an integer from 0 to 1000000000/, bad);
  }
});
