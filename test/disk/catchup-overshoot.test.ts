/**
 * A review found: a follower whose disk comes back (twice the reserve free) catches up a backlog
 * of log entries at full speed; the guard is read at most every 100 ms and the leader pipelines
 * many 1 MiB appends, so the follower can write far more than its reserve between two reads and
 * fill its disk (ENOSPC in its log or its state: FATAL).
 */
import test from 'ava';
import { truncateSync } from 'node:fs';
import { Cluster, command, sleep } from '../replication/helpers/cluster.ts';
import { canMountTmpfs, fillLeaving, freeBytes } from '../helpers/tmpfs.ts';
import { loadLongNames } from './load.ts';

const MiB = 1024 * 1024;

(canMountTmpfs() ? test : test.skip)('a follower catching up a backlog once its disk is back does not fill it', async (t) => {
  t.timeout(180_000);
  const reserveMiB = Number(process.env.D2_RESERVE ?? 2);
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--disk-reserve-mb', String(reserveMiB), '--snapshot-entries', '1000000'], tmpfsOf: (i) => (i === 0 ? (process.env.D2_TMPFS ?? '256m') : undefined) });
  let leader = await c.waitForLeader(3);
  if (leader === 0) {
    t.is((await command(c.nodes[0]!.port, ['SEQDB.TRANSFER', (await c.info(1))!.node_id!], 5000)).trim(), '+OK');
    leader = await c.waitForLeader(3, 30_000, [1, 2]);
  }
  const pid = c.nodes[0]!.child!.pid!;
  const dir = c.nodes[0]!.dataDir;
  const filler = fillLeaving(pid, dir, reserveMiB * MiB / 2);
  await sleep(1500);
  t.is((await c.info(0))?.disk_low, '1');
  await loadLongNames(c.nodes[leader]!.port, Number(process.env.D2_N ?? 100_000));
  const lead = (await c.info(leader))!;
  t.log(`leader last_index ${lead.last_index}; node 0 last_index ${(await c.info(0))?.last_index}`);
  // Give back just over twice the reserve: the node counts as back and catches up.
  const give = 2 * reserveMiB * MiB + 512 * 1024;
  const now = freeBytes(pid, dir);
  const { size } = await import('node:fs').then((fs) => fs.statSync(filler));
  truncateSync(filler, size - (give - now));
  t.log(`node 0 free: ${(freeBytes(pid, dir) / MiB).toFixed(2)} MiB`);
  let exit = '';
  c.nodes[0]!.child!.once('exit', (code, signal) => { exit = `exit code ${code} signal ${signal}`; });
  let minFree = Infinity;
  for (const until = Date.now() + 15_000; Date.now() < until && c.nodes[0]!.child !== null; await sleep(5)) {
    try { minFree = Math.min(minFree, freeBytes(pid, dir)); } catch { break; }
  }
  await sleep(1000);
  const out = c.nodes[0]!.output;
  t.log(`min free seen ${(minFree / MiB).toFixed(2)} MiB; node 0 alive ${c.nodes[0]!.child !== null} ${exit}`);
  t.log(out.split('\n').filter((l) => /FATAL|ENOSPC|disk space|SIGBUS/i.test(l)).slice(0, 6).join('\n').slice(0, 1500));
  t.true(c.nodes[0]!.child !== null, 'node 0 died');
  t.notRegex(out, /FATAL|ENOSPC/);
});
