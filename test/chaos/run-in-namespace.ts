/**
 * One chaos run, executed inside the clients' namespace on the harness's bridge (started by
 * cli.ts through test/helpers/netns.ts): start the cluster, play the schedule while the
 * workload records its history, heal, let INC ID tokens finish, stop everything, and write
 * <outDir>/raw.json. Checking and reporting happen outside, in cli.ts.
 *
 *   node --import=tsx test/chaos/run-in-namespace.ts <config.json>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { assertIsolatedNamespace, type NetnsNode, printResult } from '../helpers/netns.ts';
import { type Op, opToJson } from './checker/history.ts';
import { runWorkload } from './clients.ts';
import { readBack } from './read-back.ts';
import { ChaosCluster, NODE_PORT } from './cluster.ts';
import { type ClusterSample, monitorCluster } from './monitor.ts';
import { Rebalancer } from './rebalancer.ts';
import { ChaosRouters } from './routers.ts';
import { type AppliedFault, runNemesis } from './nemesis.ts';
import type { Schedule } from './schedule.ts';

export interface RunConfig {
  readonly seed: number;
  readonly shards: number;
  readonly processes: number;
  readonly namespaces: readonly NetnsNode[];
  readonly schedule: Schedule;
  readonly outDir: string;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly snapshotEntries?: number;
  readonly finishMs?: number;
  readonly system?: 'seqdb' | 'broken';
  /** Router namespaces; with any, the shards form one sharded cluster and clients use the routers. */
  readonly routers?: readonly NetnsNode[];
  /** Buckets the workload spreads sequences over (routers place by bucket). */
  readonly buckets?: number;
}

export interface RawRun {
  readonly config: RunConfig;
  readonly history: ReturnType<typeof opToJson>[];
  readonly faults: readonly AppliedFault[];
  readonly startupMs: number;
  /** Time for each shard to have a leader again after the final heal (null: none came). */
  readonly recoveryMs: ReadonlyArray<number | null>;
  /** Every node's role and term, sampled through the run (monitor.ts). */
  readonly samples: readonly ClusterSample[];
  /** Global node indexes of each shard, in shard order. */
  readonly shardMembers: ReadonlyArray<readonly number[]>;
  /** Behind routers with a late shard: how the final rebalance ended and the slots each shard owns after it. */
  readonly rebalanceFinal: { readonly exit: number | null | 'timeout'; readonly tail: string; readonly slots: Record<string, number> } | null;
  readonly log: readonly string[];
  /** After everything: sequences never read back, and buckets/shards whose probe INC got no number (read-back.ts). */
  readonly readBack?: { readonly unread: readonly string[]; readonly deadProbes: readonly string[] };
}

const SAMPLE_INTERVAL_MS = 250;
/**
 * Each node's disk in a run that fills one (tmpfs: memory as far as it is written; a fill takes
 * up to this much of it while the fault lasts).
 */
const DISK_MIB = 512;
/** Lines kept in raw.json's log. */
const LOG_LINES_MAX = 2_000;

async function main(): Promise<void> {
  assertIsolatedNamespace(['veth0']);
  const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as RunConfig;
  const lines: string[] = [];
  const log = (line: string): void => {
    const stamped = `${new Date().toISOString()} ${line}`;
    if (lines.length < LOG_LINES_MAX) lines.push(stamped);
    process.stderr.write(stamped + '\n');
  };
  const cluster = new ChaosCluster({
    namespaces: config.namespaces, shards: config.shards, runDir: join(config.outDir, 'nodes'), log,
    ...(config.system !== undefined ? { system: config.system } : {}),
    sharded: (config.routers ?? []).length > 0,
    lateShards: lateShards(config),
    ...(config.tickMs !== undefined ? { tickMs: config.tickMs } : {}),
    ...(config.electionTicks !== undefined ? { electionTicks: config.electionTicks } : {}),
    ...(config.snapshotEntries !== undefined ? { snapshotEntries: config.snapshotEntries } : {}),
    // A disk to fill only when the schedule fills one: the other runs keep plain data dirs.
    ...(config.schedule.events.some((e) => e.kind === 'disk-full') ? { diskMiB: DISK_MIB } : {}),
  });
  let history: Op[] = [];
  let faults: AppliedFault[] = [];
  let rebalanceFinal: RawRun['rebalanceFinal'] = null;
  let readBackResult: RawRun['readBack'];
  const recoveryMs: Array<number | null> = [];
  const routerNs = config.routers ?? [];
  const routers = routerNs.length === 0 ? null : new ChaosRouters(routerNs, join(config.outDir, 'nodes'), cluster.nodes.map((n) => n.addr), log);
  const started = performance.now();
  try {
    const late = lateShards(config);
    await cluster.startShards(cluster.shardIds.slice(0, cluster.shardIds.length - late));
    await routers?.startAll(config.shards - late);
    if (late > 0) {
      // The late shard registers without slots; rebalance faults (and the final heal) move some to it.
      const lateIds = cluster.shardIds.slice(-late);
      await cluster.startShards(lateIds);
      for (const id of lateIds) await routers!.waitRegistered(id);
    }
    const rebalancer = routers !== null && late > 0 ? new Rebalancer(() => routers.addrs[0]!, join(config.outDir, 'nodes')) : null;
    const startupMs = performance.now() - started;
    log(`cluster up in ${startupMs.toFixed(0)} ms`);
    const t0 = performance.now();
    const shards = routers !== null ? [routers.addrs] : cluster.shardIds.map((s) => cluster.shardNodes(s).map((n) => `${n.address}:${NODE_PORT}`));
    const workload = runWorkload({
      seed: config.seed, processes: config.processes, shards, t0, durationMs: config.schedule.durationMs,
      ...(config.buckets !== undefined ? { buckets: config.buckets } : {}),
      ...(config.finishMs !== undefined ? { finishMs: config.finishMs } : {}),
    });
    let workloadDone = false;
    const markDone = (): void => {
      workloadDone = true;
    };
    workload.then(markDone, markDone);
    const monitor = monitorCluster(cluster, t0, SAMPLE_INTERVAL_MS, () => workloadDone);
    // The clients run here: our address on the bridge is theirs.
    const clientsAddress = networkInterfaces().veth0?.find((a) => a.family === 'IPv4')?.address;
    const nemesis = runNemesis(cluster, config.schedule, {
      t0, log, ...(routers !== null ? { routers } : {}), ...(rebalancer !== null ? { rebalancer } : {}),
      ...(clientsAddress !== undefined ? { clientsAddress } : {}),
    });
    faults = await nemesis;
    // Whatever the schedule left behind is undone before the workload's last ops.
    await sleepUntil(t0 + config.schedule.durationMs);
    cluster.healAll();
    routers?.healAll();
    for (const shard of cluster.shardIds) {
      const healStart = performance.now();
      const leader = await cluster.waitForLeader(shard, 20_000);
      recoveryMs.push(leader === null ? null : performance.now() - healStart);
    }
    if (rebalancer !== null) {
      // Finish (or roll back and redo) whatever a killed rebalance left; only INC ID retries still run.
      rebalancer.start();
      const code = await rebalancer.wait(90_000);
      log(`final rebalance: exit ${String(code)}: ${rebalancer.tail(2)}`);
      if (code === 'running') rebalancer.interrupt();
      rebalanceFinal = { exit: code === 'running' ? 'timeout' : code, tail: rebalancer.tail(6), slots: routers === null ? {} : await slotsByShard(routers) };
    }
    history = await workload;
    // Read every sequence back and probe every bucket/shard once: a skip after a sequence's last
    // acknowledged INC, and a cluster that has leaders but serves nothing, are otherwise unseen.
    const back = await readBack(history, { shards, buckets: config.buckets ?? 1, t0, deadlineMs: 30_000 });
    history = [...history, ...back.ops];
    readBackResult = { unread: back.unread, deadProbes: back.deadProbes };
    log(`read back: ${back.ops.length} attempts, ${back.unread.length} sequence(s) unread, probes failed: ${back.deadProbes.join(', ') || 'none'}`);
    const samples = await monitor;
    log(`workload done: ${history.length} ops`);
    const shardMembers = cluster.shardIds.map((s) => cluster.shardNodes(s).map((n) => n.index));
    const raw: RawRun = { config, history: history.map(opToJson), faults, startupMs, recoveryMs, samples, shardMembers, rebalanceFinal, log: lines, ...(readBackResult !== undefined ? { readBack: readBackResult } : {}) };
    writeFileSync(join(config.outDir, 'raw.json'), JSON.stringify(raw));
    printResult({ ops: history.length, faults: faults.length });
  } catch (err) {
    log(`run failed: ${(err as Error).stack ?? String(err)}`);
    log(cluster.logTails());
    if (routers !== null) log(routers.logTails());
    throw err;
  } finally {
    await routers?.shutdown();
    await cluster.shutdown();
  }
}

/** Behind routers with several shards, the last one starts late (so a rebalance has work). */
function lateShards(config: RunConfig): number {
  return (config.routers ?? []).length > 0 && config.shards >= 2 ? 1 : 0;
}

async function slotsByShard(routers: ChaosRouters): Promise<Record<string, number>> {
  const info = (await routers.info(0, 2_000)) ?? {};
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(info)) {
    const m = /^shard_(.+)$/.exec(k);
    if (m !== null) out[m[1]!] = Number(/slots=(\d+)/.exec(v)?.[1] ?? NaN);
  }
  return out;
}

function sleepUntil(at: number): Promise<void> {
  const ms = at - performance.now();
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

main().catch(() => {
  process.exitCode = 1;
});
