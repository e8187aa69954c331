/**
 * How fast a shard forms with --bootstrap-expect 3: the bootstrap node leads a 1-voter
 * configuration first, and until the other two are voters, losing it stalls the shard
 * (DESIGN.md, "Forming a shard"). We measure that window with real processes: from the first
 * INFO showing a leader to the leader counting 3 voters. And from the first moment a member is
 * listed, the leader runs INCS (it knows what each announced when counted).
 */
import test from 'ava';
import { Cluster, sleep } from './helpers/cluster.ts';

/** Generous for a loaded 2-core machine; ~0.1-0.3 s is typical here. */
const WINDOW_MS_MAX = 3000;

function voters(info: Record<string, string> | null): number {
  return (info?.members ?? '').split(',').filter((m) => m.includes('/voter/')).length;
}

test('a 3-node shard formed with --bootstrap-expect 3 reaches 3 voters soon after its first leader', async (t) => {
  const startedAt = Date.now();
  const c = await Cluster.start(t, { size: 3 });
  let firstLeaderAt = 0;
  let firstVoters = 0;
  let formedAt = 0;
  /** Leader INFOs seen with another member but INCS off (it would refuse a router's merged INCs). */
  const incsOff: string[] = [];
  const deadline = Date.now() + 30_000;
  while (formedAt === 0 && Date.now() < deadline) {
    const infos = await Promise.all(c.nodes.map((n) => c.info(n.index, 300)));
    const leader = infos.find((i) => i?.role === 'leader') ?? null;
    if (leader !== null && firstLeaderAt === 0) {
      firstLeaderAt = Date.now();
      firstVoters = voters(leader);
    }
    if (leader !== null && (leader.members ?? '').split(',').length > 1 && leader.incs !== 'on') incsOff.push(`${leader.members} incs:${leader.incs}`);
    if (leader !== null && voters(leader) === 3) formedAt = Date.now();
    else await sleep(20);
  }
  t.not(formedAt, 0, `no leader with 3 voters within 30 s\n${c.dump()}`);
  const windowMs = formedAt - firstLeaderAt;
  t.log(`first leader seen ${firstLeaderAt - startedAt} ms after spawning (with ${firstVoters} voter(s)); 3 voters ${windowMs} ms later (${formedAt - startedAt} ms after spawning)`);
  t.true(windowMs <= WINDOW_MS_MAX, `formation window ${windowMs} ms\n${c.dump()}`);
  const leader = c.nodes.find((n) => n.output.includes('bootstrapping the shard'));
  t.truthy(leader, 'one node bootstrapped');
  t.regex(leader!.output, /counted at bootstrap/, 'the bootstrap leader added the nodes it counted without waiting for join requests');
  // It knew what each announced when it counted them: INCS is on from the first INFO that lists
  // them (it asked them only once INCS came in, and a router's first merged burst got TRYAGAIN).
  t.deepEqual(incsOff, [], 'the leader knew each member it added could apply INCS');
});
