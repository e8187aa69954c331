/**
 * CPU per acknowledged INC of each process of `seqdb dev --nodes 3` (the router, the shard's
 * leader, each follower): user + system time from /proc/<pid>/stat over a seqbench run, divided
 * by the INCs it got answers to. Throughput at one workload says what the box as a whole did;
 * this says which process spent it, which is what the optimization rounds of issue 9 went by.
 *
 *   node --import=tsx bench/cpu-per-inc.ts [--clients 50] [--pipeline 1] [--keys 1] [--buckets]
 *     [--seconds 5] [--warmup 6] [--runs 3] [--port 17800] [--split]
 *
 * --split prints each process's microseconds as user/system: system time is the socket and disk
 * syscalls (and the kernel's share of fdatasync), user time the JavaScript, V8 and libuv.
 * --keys spreads the INCs over that many sequences of one bucket (--buckets: that many buckets).
 * A fresh cluster per invocation; a warm-up run (JIT, first segment files) before the measured
 * runs. Not part of npm test: it measures, it decides nothing.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { toolArgs } from './tool-args.ts';
import { RespClient, startDev, type DevCluster } from './dev-cluster.ts';
import { runSeqbench, seqbenchDir } from './seqbench.ts';

const USAGE = 'Usage: node --import=tsx bench/cpu-per-inc.ts [--clients 50] [--pipeline 1] [--keys 1] [--buckets]\n    [--seconds 5] [--warmup 6] [--runs 3] [--port 17800] [--split]';

const { values } = toolArgs('bench/cpu-per-inc.ts', USAGE, {
  options: {
    clients: { type: 'string', default: '50' },
    pipeline: { type: 'string', default: '1' },
    keys: { type: 'string', default: '1' },
    buckets: { type: 'boolean', default: false },
    split: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '6' },
    runs: { type: 'string', default: '3' },
    port: { type: 'string', default: '17800' },
  },
});
const n = (name: keyof typeof values, min: number): number => {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < min) {
    console.error(`bench/cpu-per-inc.ts: --${name} must be an integer >= ${min}`);
    process.exit(2);
  }
  return v;
};
const clients = n('clients', 1);
const pipeline = n('pipeline', 1);
const keys = n('keys', 1);
const seconds = n('seconds', 1);
const warmupS = n('warmup', 0);
const runs = n('runs', 1);
const port = n('port', 1024);

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
const ticksPerS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

interface Proc { readonly label: string; readonly pid: number; readonly port?: number }

/** [user, system] clock ticks of a process so far. */
function cpuTicks(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]), Number(fields[12])]; // utime, stime (fields 14 and 15 of stat)
}

async function infoField(nodePort: number, field: string): Promise<string> {
  const c = await RespClient.connect(nodePort);
  try {
    const info = await c.call(['INFO']);
    return typeof info === 'string' ? (new RegExp(`(?:^|\\n)${field}:(\\w+)`).exec(info)?.[1] ?? 'unknown') : 'unknown';
  } finally {
    c.close();
  }
}

const roleOf = (nodePort: number): Promise<string> => infoField(nodePort, 'role');
/** The leader's commit index: its growth over a run is the log entries the INCs took. */
const commitOf = async (nodePort: number): Promise<number> => Number(await infoField(nodePort, 'commit_index'));
/** The router's merged INC blocks so far (router/inc-coalescer.ts): INCs per block is its batching. */
const blocksOf = async (): Promise<number> => Number(await infoField(port, 'inc_blocks_total'));

async function processes(cluster: DevCluster): Promise<Proc[]> {
  const nodes = await Promise.all(cluster.nodes().map(async (node) => ({ label: `${await roleOf(node.port)}:${node.port}`, pid: node.pid, port: node.port })));
  nodes.sort((a, b) => (a.label.startsWith('leader') ? -1 : b.label.startsWith('leader') ? 1 : a.label.localeCompare(b.label)));
  return [{ label: 'router', pid: cluster.child.pid! }, ...nodes];
}

function seqbenchArgs(durationS: number): string[] {
  const command = values.buckets ? ['INC', 'b{k}', 's'] : ['INC', 'b', 's{k}'];
  return ['-p', String(port), '-c', String(clients), '-P', String(pipeline), '-k', String(keys), '-d', String(durationS), '-w', '0', '--quiet', '--', ...command];
}

async function main(): Promise<void> {
  const dir = seqbenchDir();
  const cluster = await startDev(port, ['--nodes', '3']);
  try {
    if (warmupS > 0) await runSeqbench(dir, seqbenchArgs(warmupS));
    const procs = await processes(cluster);
    console.log(`${clients} clients x ${pipeline} pipelined, ${keys} ${values.buckets ? 'buckets' : 'sequences'}; us of CPU (${values.split ? 'user/system' : 'user + system'}) per acknowledged INC; INCs per router block and per log entry`);
    console.log(`| run | INC/s | p50/p99 ms | ${procs.map((p) => p.label).join(' | ')} | all | INC/block | INC/entry |`);
    console.log(`| --- | --- | --- | ${procs.map(() => '---').join(' | ')} | --- | --- |`);
    const leaderPort = procs[1]!.port!;
    for (let run = 1; run <= runs; run++) {
      const before = procs.map((p) => cpuTicks(p.pid));
      const commitBefore = await commitOf(leaderPort);
      const blocksBefore = await blocksOf();
      const result = await runSeqbench(dir, seqbenchArgs(seconds));
      const used = procs.map((p, i) => {
        const [u, s] = cpuTicks(p.pid);
        return [u - before[i]![0], s - before[i]![1]] as const;
      });
      const entries = (await commitOf(leaderPort)) - commitBefore;
      const blocks = (await blocksOf()) - blocksBefore;
      const acked = Number(result.total_replies) - Number(result.errors ?? 0);
      const us = (t: number): number => (acked > 0 ? (t / ticksPerS) * 1e6 / acked : NaN);
      const perInc = used.map(([u, s]) => us(u + s));
      const all = perInc.reduce((a, b) => a + b, 0);
      const cells = used.map(([u, s], i) => (values.split ? `${us(u).toFixed(1)}/${us(s).toFixed(1)}` : perInc[i]!.toFixed(2)));
      console.log(`| ${run} | ${Math.round(result.ops_per_s).toLocaleString('en')} | ${result.latency_ms?.p50}/${result.latency_ms?.p99} | ${cells.join(' | ')} | ${all.toFixed(2)} | ${blocks > 0 ? (acked / blocks).toFixed(1) : '-'} | ${entries > 0 ? (acked / entries).toFixed(1) : '-'} |`);
    }
  } finally {
    await cluster.stop();
  }
}

await main();
