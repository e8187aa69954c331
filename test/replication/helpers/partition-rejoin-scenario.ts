/**
 * Scenario for partition-rejoin.test.ts, run inside a clients' namespace on the harness's bridge
 * (test/helpers/netns.ts): a 3-node shard of real `seqdb node` processes, each in its own
 * namespace. Each round cuts one follower off while the leader keeps committing writes, heals,
 * and measures how long the follower takes to apply what the leader had applied:
 * - `link`: the follower's veth goes down; the others' packets to it vanish silently at the
 *   bridge (no RST, no ICMP), so their connections sit in TCP retransmission backoff;
 * - `nft`: nftables drops on both sides (ChaosCluster.partition); local drops make TCP retry
 *   every 500 ms without backoff, so this one was never slow, but it must stay fast.
 *   node --import=tsx test/replication/helpers/partition-rejoin-scenario.ts <namespaces.json> <runDir> <cutMs> <mode,mode,...>
 */
import { assertIsolatedNamespace, type NetnsNode, printResult } from '../../helpers/netns.ts';
import { ChaosCluster, NODE_PORT, sleep } from '../../chaos/cluster.ts';
import { RespConn } from '../../chaos/resp-conn.ts';

assertIsolatedNamespace(['veth0']);
const namespaces = JSON.parse(process.argv[2]!) as NetnsNode[];
const cutMs = Number(process.argv[4] ?? 4000);
const modes = (process.argv[5] ?? 'link').split(',');
for (const m of modes) if (m !== 'link' && m !== 'nft') throw new Error(`unknown mode ${m}`);
const cluster = new ChaosCluster({ namespaces, shards: 1, runDir: process.argv[3]!, log: (l) => console.error(l) });

interface Round {
  readonly mode: string;
  readonly follower: number;
  readonly leaderApplied: number;
  readonly followerAppliedBeforeHeal: number;
  readonly followerRoleBeforeHeal: string;
  /** The follower's INFO just before healing (null in `link` mode: unreachable, as it should be). */
  readonly followerReachableBeforeHeal: boolean;
  /** ms from removing the rules until the follower applied leaderApplied (null: not within 10 s). */
  readonly rejoinMs: number | null;
  readonly roleAfter: string;
}

/** INCs on the leader until `stop()` says so; bounded by 400 ops per call. */
async function writeUntil(leader: number, stop: () => boolean): Promise<number> {
  const conn = new RespConn(cluster.nodes[leader]!.address, NODE_PORT);
  let acked = 0;
  try {
    for (let op = 0; op < 400 && !stop(); op++) {
      const r = await conn.call(['INC', 'b', 's'], 2_000);
      if (r.kind === 'reply' && r.reply.kind === 'integer') acked++;
      await sleep(20);
    }
  } finally {
    conn.close();
  }
  return acked;
}

try {
  const startedAt = Date.now();
  await cluster.startAll(30_000);
  const formedMs = Date.now() - startedAt;
  const results: Round[] = [];
  for (const [r, mode] of modes.entries()) {
    const leader = (await cluster.waitForLeader('s0', 10_000))!.index;
    const follower = [0, 1, 2].find((i) => i !== leader && i !== (r % 2 === 0 ? -1 : (leader + 1) % 3))!;
    const others = [0, 1, 2].filter((i) => i !== follower);
    if (mode === 'link') cluster.setLink(follower, false);
    else cluster.partition([[follower], others]);
    let cutOver = false;
    const load = writeUntil(leader, () => cutOver);
    await sleep(cutMs);
    cutOver = true;
    await load;
    const leaderInfo = await cluster.info(leader);
    const before = await cluster.info(follower);
    const leaderApplied = Number(leaderInfo?.applied_index ?? NaN);
    const healAt = Date.now();
    cluster.healNetwork();
    let rejoinMs: number | null = null;
    while (Date.now() - healAt < 10_000) {
      const info = await cluster.info(follower, 300);
      if (info !== null && Number(info.applied_index) >= leaderApplied) {
        rejoinMs = Date.now() - healAt;
        break;
      }
      await sleep(20);
    }
    results.push({
      mode, follower, leaderApplied,
      followerAppliedBeforeHeal: Number(before?.applied_index ?? NaN),
      followerRoleBeforeHeal: before?.role ?? '?',
      followerReachableBeforeHeal: before !== null,
      rejoinMs,
      roleAfter: (await cluster.info(follower))?.role ?? '?',
    });
    await sleep(500);
  }
  printResult({ formedMs, rounds: results, logs: process.env.SEQDB_SCENARIO_LOGS === '1' || results.some((x) => x.rejoinMs === null || x.rejoinMs > 1500) ? cluster.logTails(3000) : '' });
} finally {
  await cluster.shutdown();
}
