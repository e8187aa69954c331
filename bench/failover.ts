/**
 * Failover pause: `seqdb dev --nodes 3` under closed-loop INC load through the router, then
 * kill -9 of the shard leader. Reports the time from the kill to the first INC that was SENT
 * after the kill and succeeded, the longest gap between two successful replies, and checks that
 * every acknowledged number is unique. One kill per fresh cluster, `--rounds` times.
 *
 *   node --import=tsx bench/failover.ts [--rounds 3] [--clients 8] [--port 17600]
 */
import { toolArgs } from './tool-args.ts';
import { RespClient, sleep, startDev, type DevCluster } from './dev-cluster.ts';

const USAGE = 'Usage: node --import=tsx bench/failover.ts [--rounds 3] [--clients 8] [--port 17600]';

interface Round { pauseMs: number; maxGapMs: number; maxLatencyMs: number; acked: number; errors: number; duplicates: number }

async function findLeader(cluster: DevCluster): Promise<{ pid: number; port: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    for (const n of cluster.nodes()) {
      const c = await RespClient.connect(n.port).catch(() => null);
      if (!c) continue;
      const info = await c.call(['INFO']);
      c.close();
      if (typeof info === 'string' && /role:leader/.test(info)) return n;
    }
    await sleep(100);
  }
  throw new Error('no leader found');
}

async function round(port: number, clients: number): Promise<Round> {
  const cluster = await startDev(port, ['--nodes', '3']);
  try {
    const conns = await Promise.all(Array.from({ length: clients }, () => RespClient.connect(port)));
    const seen = new Set<number>();
    let duplicates = 0; let errors = 0; let lastOkAt = 0; let maxGapMs = 0; let maxLatencyMs = 0;
    let killAt = Infinity; let firstAfterKill = Infinity;
    let running = true;
    const loop = async (c: RespClient): Promise<void> => {
      while (running) {
        const sentAt = performance.now();
        const r = await c.call(['INC', 'failover', 'hot']);
        const now = performance.now();
        if (typeof r === 'number') {
          if (seen.has(r)) duplicates++;
          seen.add(r);
          if (lastOkAt > 0) maxGapMs = Math.max(maxGapMs, now - lastOkAt);
          lastOkAt = now;
          maxLatencyMs = Math.max(maxLatencyMs, now - sentAt);
          if (sentAt >= killAt && firstAfterKill === Infinity) firstAfterKill = now;
        } else {
          errors++;
          if (!c.alive) return;
          await sleep(5); // an error reply (e.g. TRYAGAIN): retry soon, bounded by `running`
        }
      }
    };
    const loops = conns.map(loop);
    await sleep(3000); // steady state
    const leader = await findLeader(cluster);
    maxGapMs = 0; maxLatencyMs = 0;
    killAt = performance.now();
    process.kill(leader.pid, 'SIGKILL');
    const deadline = Date.now() + 15_000;
    while (firstAfterKill === Infinity && Date.now() < deadline) await sleep(10);
    await sleep(1000); // keep the load on a little after recovery
    running = false;
    await Promise.race([Promise.all(loops), sleep(5000)]);
    for (const c of conns) c.close();
    return { pauseMs: firstAfterKill - killAt, maxGapMs, maxLatencyMs, acked: seen.size, errors, duplicates };
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const { values } = toolArgs('bench/failover.ts', USAGE, { options: {
    rounds: { type: 'string', default: '3' }, clients: { type: 'string', default: '8' }, port: { type: 'string', default: '17600' },
  } });
  const rounds: Round[] = [];
  for (let i = 0; i < Number(values.rounds); i++) {
    const r = await round(Number(values.port) + i * 20, Number(values.clients));
    console.log(`round ${i + 1}: pause ${r.pauseMs.toFixed(0)} ms (kill -> first INC sent after it acked), longest gap between acks ${r.maxGapMs.toFixed(0)} ms, slowest INC ${r.maxLatencyMs.toFixed(0)} ms, ${r.acked} acked, ${r.errors} error replies, ${r.duplicates} duplicates`);
    rounds.push(r);
  }
  const pauses = rounds.map((r) => r.pauseMs).sort((a, b) => a - b);
  console.log(`median pause ${pauses[Math.floor(pauses.length / 2)]!.toFixed(0)} ms, worst ${pauses[pauses.length - 1]!.toFixed(0)} ms (goal < 1000 ms)`);
  if (rounds.some((r) => r.duplicates > 0 || !Number.isFinite(r.pauseMs))) process.exitCode = 1;
}

main().catch((err) => { console.error(err); process.exit(1); });
