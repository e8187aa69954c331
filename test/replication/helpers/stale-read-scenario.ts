/**
 * Scenario for stale-read-deposed.test.ts, run in the clients' namespace on the harness's bridge
 * (test/helpers/netns.ts): a 3-node shard of real `seqdb node` processes, one per namespace.
 * The leader is cut off from its peers (nft in each node's namespace; clients still reach all,
 * as in Jepsen) and stopped at once, so nothing from a newer term can wait in its buffers. The
 * others elect a new leader, which acknowledges more INCs. The old leader is resumed, still
 * believing it leads, and asked GET right away by a client.
 *   node --import=tsx test/replication/helpers/stale-read-scenario.ts <namespaces.json> <runDir>
 */
import { assertIsolatedNamespace, type NetnsNode, printResult } from '../../helpers/netns.ts';
import { ChaosCluster, NODE_PORT, sleep } from '../../chaos/cluster.ts';
import { RespConn } from '../../chaos/resp-conn.ts';

assertIsolatedNamespace(['veth0']);
const namespaces = JSON.parse(process.argv[2]!) as NetnsNode[];
const cluster = new ChaosCluster({ namespaces, shards: 1, runDir: process.argv[3]!, log: (l) => console.error(l) });

async function call(i: number, args: string[], timeoutMs: number): Promise<string> {
  const conn = new RespConn(cluster.nodes[i]!.address, NODE_PORT);
  try {
    const r = await conn.call(args, timeoutMs);
    if (r.kind !== 'reply') return r.kind;
    return r.reply.kind === 'integer' ? `:${r.reply.value}` : r.reply.kind === 'error' ? `-${r.reply.word} ${r.reply.message}` : r.reply.kind;
  } finally {
    conn.close();
  }
}

try {
  await cluster.startAll(30_000);
  const rounds: Array<{ acked: string; replies: string[] }> = [];
  for (let round = 0; round < 3; round++) {
    const old = (await cluster.waitForLeader('s0', 10_000))!.index;
    for (let i = 0; i < 3; i++) await call(old, ['INC', 'b', 's'], 2000);
    const others = [0, 1, 2].filter((i) => i !== old);
    cluster.partition([[old], others]);
    cluster.pause(old);
    let next: number | null = null;
    for (let k = 0; k < 50 && next === null; k++) {
      const l = await cluster.leader('s0');
      if (l !== null && l.index !== old) next = l.index;
      else await sleep(100);
    }
    if (next === null) throw new Error('no new leader');
    let acked = 0n;
    for (let i = 0; i < 10; i++) {
      const r = await call(next, ['INC', 'b', 's'], 2000);
      if (r.startsWith(':')) acked = BigInt(r.slice(1));
    }
    cluster.resume(old);
    const replies = await Promise.all([0, 1, 2, 3].map(() => call(old, ['GET', 'b', 's'], 1500)));
    rounds.push({ acked: acked.toString(), replies });
    cluster.healNetwork();
    await sleep(1500);
  }
  const stale = rounds.flatMap((r) => r.replies.filter((x) => x.startsWith(':') && BigInt(x.slice(1)) < BigInt(r.acked)));
  printResult({ rounds, stale });
} finally {
  await cluster.shutdown();
}
