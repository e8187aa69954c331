/**
 * A review found: two voters of five run low at about the same time, the leader first. The
 * leader hands over to the other low voter (its low word has not arrived yet); that one, low too,
 * hands straight back (a leader never reports its own low disk, and the former leader reports
 * only at its next one-second tick), and the first leader then sits out its 10 s pause refusing
 * every write with NOSPACE while three voters with space could take them.
 */
import test from 'ava';
import { Cluster, command, sleep } from '../replication/helpers/cluster.ts';
import { canMountTmpfs, fillLeaving } from '../helpers/tmpfs.ts';

const MiB = 1024 * 1024;

(canMountTmpfs() ? test : test.skip)('two voters of five low at once: writes resume on a voter with space within a few seconds', async (t) => {
  t.timeout(120_000);
  const c = await Cluster.start(t, { size: 5, extraArgs: ['--disk-reserve-mb', '8'], tmpfsOf: () => '64m' });
  let leader = await c.waitForLeader(5);
  const ids = await Promise.all(c.nodes.map(async (_, i) => (await c.info(i))!.node_id!));
  const voters = (await c.info(leader))!.members!.split(',').map((m) => m.split('=')[0]!);
  const a = ids.indexOf(voters[0]!);
  const b = ids.indexOf(voters[1]!);
  if (leader !== a) {
    t.is((await command(c.nodes[leader]!.port, ['SEQDB.TRANSFER', voters[0]!], 5000)).trim(), '+OK');
    leader = await c.waitForLeader(5);
  }
  t.is(leader, a);
  t.is((await command(c.nodes[a]!.port, ['INC', 'b', 's'], 5000)).trim(), ':1');
  await sleep(1000);
  fillLeaving(c.nodes[a]!.child!.pid!, c.nodes[a]!.dataDir, 4 * MiB);
  fillLeaving(c.nodes[b]!.child!.pid!, c.nodes[b]!.dataDir, 4 * MiB);
  const began = Date.now();
  // Three voters have space: an INC (via whichever node leads) should succeed within ~3 s.
  let ok = -1;
  const seen: string[] = [];
  for (const until = Date.now() + 12_000; Date.now() < until && ok < 0; await sleep(100)) {
    for (let i = 0; i < 5; i++) {
      const info = await c.info(i, 300);
      if (info?.role !== 'leader') continue;
      let r = '';
      try { r = (await command(c.nodes[i]!.port, ['INC', 'b', 's'], 2000)).trim(); } catch (err) { r = String(err); }
      seen.push(`${Date.now() - began}ms node ${i}: ${r.slice(0, 40)}`);
      if (r.startsWith(':')) ok = Date.now() - began;
    }
  }
  t.log(seen.filter((s, i) => i === 0 || s.split(': ')[1] !== seen[i - 1]!.split(': ')[1] || i === seen.length - 1).join('\n'));
  t.log([a, b].map((i) => c.nodes[i]!.output.split('\n').filter((l) => /handing leadership/.test(l)).map((l) => `node ${i}: ${l.slice(l.indexOf('msg'), l.indexOf('msg') + 60)}`).join('\n')).join('\n'));
  t.log(`a=${a} (${ids[a]}) b=${b} (${ids[b]})`);
  t.true(ok >= 0 && ok < 4000, `first INC taken after ${ok} ms`);
});
