/**
 * A review found: 3 voters, one down (stopped), one under its reserve. The leader counts the
 * down voter as "with space" (only a reported low disk counts against it), so once the low
 * follower's budget is spent, INCs are proposed that no quorum can take: they time out
 * AMBIGUOUS (and apply once space is freed) instead of NOSPACE (nothing taken) at once.
 */
import test from 'ava';
import { Cluster, command, sleep } from '../replication/helpers/cluster.ts';
import { canMountTmpfs, fillLeaving, removeFiller } from '../helpers/tmpfs.ts';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';

const MiB = 1024 * 1024;

(canMountTmpfs() ? test : test.skip)('one voter down, one low: writes are refused NOSPACE, not left AMBIGUOUS to apply later', async (t) => {
  t.timeout(120_000);
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--disk-reserve-mb', '8'], tmpfsOf: () => '64m' });
  const leader = await c.waitForLeader(3);
  const [low, down] = [0, 1, 2].filter((i) => i !== leader) as [number, number];
  const L = c.nodes[leader]!.port;
  t.is((await command(L, ['INC', 'b', 'x'], 5000)).trim(), ':1');
  c.kill(down, 'SIGSTOP');
  const filler = fillLeaving(c.nodes[low]!.child!.pid!, c.nodes[low]!.dataDir, 4 * MiB);
  await sleep(2500); // the low word reaches the leader
  // Long names spend the low follower's budget (1/64 of the reserve: 128 KiB) quickly.
  const cl = await RespClient.connect(L);
  const replies: string[] = [];
  const sent: string[] = [];
  const bucket = 'b'.padEnd(250, 'b');
  for (let round = 0; round < 6; round++) {
    const names = Array.from({ length: 1000 }, (_, i) => String(round * 1000 + i).padStart(250, 's'));
    sent.push(...names);
    cl.write(Buffer.concat(names.map((n) => encodeRequest('INC', bucket, n))));
    for (let i = 0; i < names.length; i++) replies.push((await cl.next(15_000)).trim());
    if (replies.some((r) => !r.startsWith(':'))) break;
  }
  cl.socket.destroy();
  const kinds = new Map<string, number>();
  for (const r of replies) kinds.set(r.split(' ')[0]!.slice(0, 12), (kinds.get(r.split(' ')[0]!.slice(0, 12)) ?? 0) + 1);
  t.log(`replies: ${JSON.stringify([...kinds])}`);
  const ambiguous = replies.filter((r) => r.startsWith('-AMBIGUOUS'));
  removeFiller(filler);
  c.kill(down, 'SIGCONT');
  const firstAmbiguous = replies.findIndex((r) => r.startsWith('-AMBIGUOUS'));
  if (firstAmbiguous >= 0) {
    let got = '';
    for (const until = Date.now() + 15_000; Date.now() < until && got !== ':1'; await sleep(500)) {
      try { got = (await command(c.nodes[await c.waitForLeader(3)]!.port, ['GET', bucket, sent[firstAmbiguous]!], 3000)).trim(); } catch { /* again */ }
    }
    t.log(`after space is freed, GET of the first AMBIGUOUS INC's sequence: ${got}`);
  }
  t.deepEqual(ambiguous.slice(0, 2), [], 'a write the quorum could not take was left AMBIGUOUS, not refused NOSPACE');
});
