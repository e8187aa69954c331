import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareStateDir } from '../../node/replication/state-reboot-guard.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { Cluster, RetryingIncClient, command, sleep } from './helpers/cluster.ts';

test('prepareStateDir keeps a state written in this boot and discards one from another boot', async (t) => {
  const dir = await tempDir(t);
  t.deepEqual(prepareStateDir(dir, 'boot-a'), { sync: false, discarded: false });
  writeFileSync(join(dir, 'data.mdb'), 'state');
  t.deepEqual(prepareStateDir(dir, 'boot-a'), { sync: false, discarded: false });
  t.true(existsSync(join(dir, 'data.mdb')));
  t.deepEqual(prepareStateDir(dir, 'boot-b'), { sync: false, discarded: true });
  t.false(existsSync(join(dir, 'data.mdb')));
  t.is(readFileSync(join(dir, 'written-by-boot'), 'latin1'), 'boot-b');
  // No boot id (not Linux): the state must be fsynced instead.
  t.deepEqual(prepareStateDir(dir, null), { sync: true, discarded: false });
});

test('prepareStateDir never discards the state of a node not yet in a shard (a restore output): it is fsynced', async (t) => {
  const dir = await tempDir(t);
  writeFileSync(join(dir, 'data.mdb'), 'restored');
  t.deepEqual(prepareStateDir(dir, 'boot-a', false), { sync: true, discarded: false });
  writeFileSync(join(dir, 'written-by-boot'), 'boot-a');
  t.deepEqual(prepareStateDir(dir, 'boot-b', false), { sync: true, discarded: false });
  t.is(readFileSync(join(dir, 'data.mdb'), 'latin1'), 'restored');
  // Once in a shard, the Raft snapshot holds it: an unsynced view from another boot is rebuilt.
  t.deepEqual(prepareStateDir(dir, 'boot-b', true), { sync: false, discarded: true });
  // A fresh node (no state yet) writes without fsync from the start.
  const fresh = await tempDir(t);
  t.deepEqual(prepareStateDir(fresh, 'boot-a', false), { sync: false, discarded: false });
});

test('after an OS restart every replica rebuilds its unsynced state from the Raft snapshot and log', async (t) => {
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--snapshot-entries', '100'] });
  await c.waitForLeader(3);
  const ports = c.nodes.map((n) => n.port);
  const client = new RetryingIncClient(0, ports);
  for (let op = 0; op < 250; op++) t.not((await client.inc('b', 'reboot', op, Date.now() + 10_000)).value, null);
  client.close();
  for (const n of c.nodes) c.kill(n.index, 'SIGKILL');
  await sleep(300);
  // What an OS crash may leave of a state written without fsync: torn pages, from another boot.
  for (const n of c.nodes) {
    const stateDir = join(n.dataDir, 'lmdb');
    writeFileSync(join(stateDir, 'written-by-boot'), 'an-earlier-boot');
    writeFileSync(join(stateDir, 'data.mdb'), Buffer.alloc(64 * 1024, 0xa5));
  }
  for (const n of c.nodes) c.spawn(n.index);
  const leader = await c.waitForLeader(3);
  t.is((await command(c.nodes[leader]!.port, ['GET', 'b', 'reboot'], 5000)).trim(), ':250');
  t.is((await command(c.nodes[leader]!.port, ['INC', 'b', 'reboot'], 5000)).trim(), ':251');
  for (const n of c.nodes) t.regex(n.output, /rebuilding it from the Raft snapshot and log/);
});
