/**
 * A review found: a node whose free space is above its reserve (so not "low") but under the size
 * of its state image takes a local snapshot, the image's commit hits ENOSPC and the node stops
 * with FATAL (LocalSnapshots only asks disk.low(), not whether the image fits).
 */
import test from 'ava';
import { Cluster, command, sleep } from '../replication/helpers/cluster.ts';
import { canMountTmpfs, fillLeaving, freeBytes } from '../helpers/tmpfs.ts';
import { loadLongNames } from './load.ts';

const MiB = 1024 * 1024;

(canMountTmpfs() ? test : test.skip)('a local snapshot larger than the free space above the reserve does not kill the node', async (t) => {
  t.timeout(180_000);
  const c = await Cluster.start(t, { size: 1, extraArgs: ['--disk-reserve-mb', '4', '--snapshot-entries', '1000000'], tmpfsOf: () => '160m' });
  await c.waitForLeader(1);
  const port = c.nodes[0]!.port;
  await loadLongNames(port, 30_000);
  const pid = c.nodes[0]!.child!.pid!;
  const dir = c.nodes[0]!.dataDir;
  t.log(`free after load: ${(freeBytes(pid, dir) / MiB).toFixed(1)} MiB`);
  // 7 MiB free: above the 4 MiB reserve (the node is not low), under the ~15 MiB image.
  fillLeaving(pid, dir, 7 * MiB);
  await sleep(300);
  const info = await c.info(0);
  t.is(info?.disk_low, '0');
  let reply = '';
  try {
    reply = (await command(port, ['SEQDB.SNAPSHOT'], 30_000)).trim();
  } catch (err) {
    reply = String(err);
  }
  t.log(`SEQDB.SNAPSHOT -> ${reply}`);
  await sleep(1000);
  t.not(c.nodes[0]!.child, null, `the node died:\n${c.nodes[0]!.output.slice(-1500)}`);
  t.notRegex(c.nodes[0]!.output, /FATAL/);
});
