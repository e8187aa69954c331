/**
 * `npm run chaos -- --seed S --duration SECONDS [--nodes 3] [--shards 1] ...`: one seeded
 * fault-injection run against real `seqdb node` processes in network namespaces, then the
 * history check. Exit status: 0 valid, 1 violation, 2 bad usage, 3 undecided (a bounded search
 * gave up: not a pass), 4 the harness failed (cluster did not start, ...).
 *
 * `--check DIR` re-checks a finished run's raw.json without running anything.
 * Needs root and Linux network namespaces; partitions and loss need nftables (`nft`).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createBridgedNetwork, killGroup, REPO_ROOT, requireNamespaces, scenarioResult } from '../helpers/netns.ts';
import { checkHistory } from './checker/check.ts';
import { opFromJson } from './checker/history.ts';
import { haveNft } from './net-faults.ts';
import { writeReport } from './report.ts';
import type { RawRun, RunConfig } from './run-in-namespace.ts';
import { CC_KINDS, describeEvent, FAULT_KINDS, type FaultKind, makeSchedule, NFT_KINDS } from './schedule.ts';
import { ioFaultLibrary } from '../helpers/io-fault.ts';

const USAGE = `Usage: npm run chaos -- [options]
  --seed <n>          schedule and workload seed (default: random, printed)
  --duration <s>      seconds of faults and load (default 60)
  --nodes <n>         nodes per shard (default 3)
  --shards <n>        shards (default 1); without routers each is its own Raft group and
                      clients split sequences by name hash
  --processes <n>     concurrent client processes (default 8)
  --routers <n>       seqdb routers in front (default 0): the shards then form one sharded
                      cluster (shard 1 holds the catalog), clients talk to the routers only,
                      and sequences spread over 64 buckets
  --faults <list>     comma-separated fault kinds (default: all this machine supports)
                      ${FAULT_KINDS.join(', ')}
  --out <dir>         where to write the run (default: $TMPDIR/seqdb-chaos/<time>-seed<S>)
  --tick-ms <n>, --election-ticks <n>   passed to every node
  --snapshot-entries <n>  passed to every node: small values make snapshots, compaction and
                      InstallSnapshot happen all through the run
  --system broken     run broken-node.ts (no replication) instead of seqdb: the run must fail
  --check <dir>       only re-check <dir>/raw.json
Exit: 0 valid, 1 violation, 2 usage, 3 undecided, 4 harness failure.`;

/** Buckets the workload uses behind routers (which place by bucket). */
const ROUTED_BUCKETS = 64;

const EXIT = { valid: 0, invalid: 1, usage: 2, undecided: 3, harness: 4, unrecovered: 5 } as const;

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seed: { type: 'string' }, duration: { type: 'string' }, nodes: { type: 'string' }, shards: { type: 'string' },
      processes: { type: 'string' }, routers: { type: 'string' }, faults: { type: 'string' }, out: { type: 'string' }, check: { type: 'string' },
      system: { type: 'string' }, 'tick-ms': { type: 'string' }, 'election-ticks': { type: 'string' }, 'snapshot-entries': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return EXIT.valid;
  }
  if (values.check !== undefined) return checkAndReport(resolve(values.check));
  const seed = int('seed', values.seed, Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31);
  const durationMs = int('duration', values.duration, 60, 5, 24 * 3600) * 1000;
  const nodes = int('nodes', values.nodes, 3, 1, 9);
  const shards = int('shards', values.shards, 1, 1, 4);
  const processes = int('processes', values.processes, 8, 1, 64);
  const routerCount = int('routers', values.routers, 0, 0, 8);
  // Passed to every node; checked here, before anything is printed or started.
  const nodeTuning = {
    ...(values['tick-ms'] !== undefined ? { tickMs: int('tick-ms', values['tick-ms'], 50, 1, 10_000) } : {}),
    ...(values['election-ticks'] !== undefined ? { electionTicks: int('election-ticks', values['election-ticks'], 10, 2, 1_000) } : {}),
    ...(values['snapshot-entries'] !== undefined ? { snapshotEntries: int('snapshot-entries', values['snapshot-entries'], 10_000, 1, 10_000_000) } : {}),
  };
  if (nodes * shards + routerCount + 1 > 32) throw new UsageError('at most 31 nodes and routers in all');
  const system = values.system ?? 'seqdb';
  if (system !== 'seqdb' && system !== 'broken') throw new UsageError(`--system must be seqdb or broken`);
  const nft = haveNft();
  const cc = ioFaultLibrary() !== null;
  const kinds = pickKinds(values.faults, nft, cc);
  const outDir = resolve(values.out ?? join(tmpdir(), 'seqdb-chaos', `${new Date().toISOString().replace(/[:.]/g, '-')}-seed${seed}`));
  mkdirSync(outDir, { recursive: true });
  const schedule = makeSchedule({ seed, durationMs, nodesPerShard: nodes, shards, routers: routerCount, kinds });
  console.log(`${system === 'broken' ? 'BROKEN SYSTEM (broken-node.ts) ' : ''}seqdb chaos: seed ${seed}, ${durationMs / 1000} s, ${nodes} node(s) x ${shards} shard(s), ${routerCount} router(s), ${processes} clients -> ${outDir}`);
  if (!nft) console.log(`(nft not found: skipping ${[...NFT_KINDS].join(', ')})`);
  if (!cc) console.log(`(no C compiler: skipping ${[...CC_KINDS].join(', ')})`);
  for (const e of schedule.events) console.log(`  ${describeEvent(e)}`);
  requireNamespaces();
  if (system === 'broken' && routerCount > 0) throw new UsageError('--system broken has no routers');
  const nodeCount = nodes * shards;
  const net = createBridgedNetwork(nodeCount + routerCount + 1);
  try {
    const config: RunConfig = {
      seed, shards, processes, schedule, outDir, namespaces: net.nodes.slice(0, nodeCount), system,
      routers: net.nodes.slice(nodeCount, nodeCount + routerCount), buckets: routerCount > 0 ? ROUTED_BUCKETS : 1,
      ...nodeTuning,
    };
    const configPath = join(outDir, 'config.json');
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    const child = net.spawn(nodeCount + routerCount, join(REPO_ROOT, 'test', 'chaos', 'run-in-namespace.ts'), [configPath]);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => process.stderr.write(d));
    // Ctrl-C: take the run's whole process group down; exiting deletes the namespaces.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        killGroup(child);
        process.exit(EXIT.harness);
      });
    }
    await scenarioResult(child, durationMs + 180_000);
  } catch (err) {
    console.error(`seqdb chaos: the run failed: ${(err as Error).message.split('\n')[0]}`);
    return EXIT.harness;
  } finally {
    net.destroy();
  }
  return checkAndReport(outDir);
}

function checkAndReport(outDir: string): number {
  const raw = JSON.parse(readFileSync(join(outDir, 'raw.json'), 'utf8')) as RawRun;
  const history = raw.history.map(opFromJson);
  const check = checkHistory(history);
  const written = writeReport(outDir, raw, history, check);
  console.log(written.summary);
  console.log(`\nwritten: ${written.paths.join(', ')} (history: ${join(outDir, 'raw.json')})`);
  // Safety alone is not enough: a cluster that never came back after the final heal passed as
  // VALID (a checker review). Liveness after the heal is a verdict of its own.
  // Replicas of a shard must hold the same state at the same index (node/replication/state-checks.ts).
  const differing = stateDifferences(join(outDir, 'nodes'));
  if (check.verdict === 'valid' && differing.length > 0) {
    console.log(`STATE DIFFERS between replicas (exit ${EXIT.invalid}):\n  ${differing.slice(0, 10).join('\n  ')}`);
    return EXIT.invalid;
  }
  const unrecovered = raw.recoveryMs.flatMap((ms, i) => (ms === null ? [i + 1] : []));
  if (check.verdict === 'valid' && unrecovered.length > 0) {
    console.log(`NOT RECOVERED: shard(s) ${unrecovered.join(', ')} had no leader within 20 s of the final heal (exit ${EXIT.unrecovered})`);
    return EXIT.unrecovered;
  }
  // A leader is not service: every bucket (or shard) must also hand out a number after the heal,
  // and every sequence must be readable (a chaos review: frozen slots passed as VALID).
  const dead = raw.readBack?.deadProbes ?? [];
  const unread = raw.readBack?.unread ?? [];
  if (check.verdict === 'valid' && (dead.length > 0 || unread.length > 0)) {
    console.log(`NOT RECOVERED: no INC served after the heal by ${dead.join(', ') || 'none'}; ${unread.length} sequence(s) unreadable (exit ${EXIT.unrecovered})`);
    return EXIT.unrecovered;
  }
  return EXIT[check.verdict];
}

/** Nodes' log lines that report a state check failed: `<log file>: <message>`. */
function stateDifferences(nodesDir: string): string[] {
  if (!existsSync(nodesDir)) return [];
  return readdirSync(nodesDir).filter((f) => f.endsWith('.log')).flatMap((f) => readFileSync(join(nodesDir, f), 'utf8')
    .split('\n').filter((line) => line.includes('state check failed')).map((line) => `${f}: ${line.slice(0, 300)}`));
}

function pickKinds(text: string | undefined, nft: boolean, cc: boolean): FaultKind[] {
  if (text === undefined) return FAULT_KINDS.filter((k) => (nft || !NFT_KINDS.has(k)) && (cc || !CC_KINDS.has(k)));
  const kinds = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const k of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new UsageError(`unknown fault kind '${k}'`);
    if (!nft && NFT_KINDS.has(k as FaultKind)) throw new UsageError(`fault '${k}' needs nft (apt-get install nftables)`);
    if (!cc && CC_KINDS.has(k as FaultKind)) throw new UsageError(`fault '${k}' needs a C compiler (apt-get install gcc)`);
  }
  return kinds as FaultKind[];
}

class UsageError extends Error {}

function int(name: string, text: string | undefined, dflt: number, min: number, max: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}`);
  return n;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    console.error(`seqdb chaos: ${err.message}`);
    process.exit(usage ? EXIT.usage : EXIT.harness);
  },
);
