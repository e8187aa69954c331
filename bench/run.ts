/**
 * `npm run bench [-- options]`: starts each target, drives it with ../shared/tools/seqbench, and prints
 * a table of INC throughput and latency with the SeqDB/Redis ratio. Writes JSON to bench/results/.
 *
 * Method: closed-loop clients on the same 2-core machine as the servers; each cell starts a fresh
 * server, drives it with the cell's own workload for `--settle` seconds (default 20, discarded),
 * then takes the median of `--runs` runs of `--duration` seconds, each after a `--warmup` (default
 * 3 s); the same for every target. Every INC reply, the settling run's too, is checked for
 * uniqueness. Why settle: a Node.js server's first ~15-20 s of load run on code V8 is still
 * compiling (at one client, p99 5-6 ms in the first 5 s, ~2 ms from 25 s on; bench/README.md).
 * `--settle 0` measures a cold server.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { toolArgs } from './tool-args.ts';
import { repoDir } from './dev-cluster.ts';
import { runSeqbench, seqbenchDir } from './seqbench.ts';
import { targets, type RunningTarget } from './targets.ts';

/** `buckets`: each key its own bucket (else all keys are sequences of one bucket). */
interface Workload { readonly connections: number; readonly pipeline: number; readonly keys: number; readonly buckets?: boolean }
interface Cell { target: string; workload: Workload; opsPerS: number; p50Ms: number; p99Ms: number; errors: number; checkOk: boolean | null }

const fullMatrix: Workload[] = [1, 16, 50, 64].flatMap((c) => [1, 10_000].map((k) => ({ connections: c, pipeline: 1, keys: k })))
  .concat([1, 10_000].map((k) => ({ connections: 50, pipeline: 16, keys: k })));
const quickMatrix: Workload[] = [{ connections: 1, pipeline: 1, keys: 1 }, { connections: 50, pipeline: 1, keys: 1 }];
/**
 * Shard scaling: keys spread over every shard (slots hash buckets, so one bucket per key), enough
 * load to keep them all busy. Before 2026-11-26 19:40 the keys were sequences of ONE bucket, all
 * on one shard: the extra shards then idled.
 */
const scalingMatrix: Workload[] = [{ connections: 64, pipeline: 1, keys: 10_000, buckets: true }, { connections: 50, pipeline: 16, keys: 10_000, buckets: true }];

function seqbenchOnce(dir: string, t: RunningTarget, w: Workload, durationS: number, warmupS: number): Promise<Record<string, any>> {
  const common = ['-c', String(w.connections), '-d', String(durationS), '-w', String(warmupS), '-k', String(w.keys), '--quiet', '--check'];
  return runSeqbench(dir, t.mode === 'etcd'
    ? ['--mode', 'etcd', '--endpoints', t.endpoints!, '--etcd-reset', ...common]
    : ['-p', String(t.port), '-P', String(w.pipeline), ...common, '--', ...(w.buckets ? t.incBucketsCommand ?? t.incCommand : t.incCommand)]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function measure(dir: string, t: RunningTarget, w: Workload, runs: number, durationS: number, warmupS: number, settleS: number): Promise<Cell> {
  const settled = settleS > 0 ? [await seqbenchOnce(dir, t, w, settleS, 0)] : [];
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await seqbenchOnce(dir, t, w, durationS, warmupS));
  const mid = results.sort((a, b) => a.ops_per_s - b.ops_per_s)[Math.floor(results.length / 2)]!;
  return {
    target: t.name, workload: w, opsPerS: Math.round(median(results.map((r) => r.ops_per_s))),
    p50Ms: mid.latency_ms?.p50 ?? NaN, p99Ms: mid.latency_ms?.p99 ?? NaN,
    errors: [...settled, ...results].reduce((n, r) => n + (r.errors ?? 0), 0),
    checkOk: [...settled, ...results].every((r) => r.check?.ok !== false),
  };
}

function describe(w: Workload): string {
  return `${w.connections}c${w.pipeline > 1 ? `x${w.pipeline}P` : ''} ${w.keys === 1 ? 'hot' : `${w.keys} ${w.buckets ? 'buckets' : 'keys'}`}`;
}

function printTable(cells: Cell[], targetNames: string[]): void {
  const workloads = [...new Map(cells.map((c) => [describe(c.workload), c.workload])).values()];
  const header = ['workload', ...targetNames.flatMap((n) => [`${n} ops/s`, 'p50/p99 ms']), 'seqdb/redis'];
  console.log(`| ${header.join(' | ')} |\n|${header.map(() => ' --- ').join('|')}|`);
  for (const w of workloads) {
    const row = [describe(w)];
    const find = (n: string) => cells.find((c) => c.target === n && describe(c.workload) === describe(w));
    for (const n of targetNames) {
      const c = find(n);
      row.push(c ? `${c.opsPerS.toLocaleString('en')}${c.checkOk ? '' : ' CHECK FAILED'}` : '-', c ? `${c.p50Ms}/${c.p99Ms}` : '-');
    }
    const seq = find(targetNames.find((n) => n.startsWith('seqdb')) ?? ''); const red = find('redis-always');
    row.push(seq && red && red.opsPerS > 0 ? (seq.opsPerS / red.opsPerS).toFixed(2) : '-');
    console.log(`| ${row.join(' | ')} |`);
  }
}

const USAGE = 'Usage: npm run bench -- [--targets seqdb-3,seqdb-1,seqdb-3x2,seqdb-3x4,redis-always,etcd-3nodes] [--duration S]\n    [--runs N] [--warmup S] [--settle S] [--quick | --scaling] [--port 17400]';

async function main(): Promise<void> {
  const { values } = toolArgs('npm run bench', USAGE, { options: {
    targets: { type: 'string', default: 'seqdb-3,redis-always,etcd-3nodes' },
    duration: { type: 'string', default: '10' }, runs: { type: 'string', default: '3' }, warmup: { type: 'string', default: '3' },
    settle: { type: 'string', default: '20' },
    quick: { type: 'boolean', default: false }, scaling: { type: 'boolean', default: false }, port: { type: 'string', default: '17400' },
  }, strict: true });
  const durationS = values.quick ? 2 : Number(values.duration);
  const runs = values.quick ? 1 : Number(values.runs);
  const warmupS = values.quick ? 1 : Number(values.warmup);
  const settleS = values.quick ? 0 : Number(values.settle);
  if (!(durationS > 0) || !(runs >= 1) || !(warmupS >= 0) || !(settleS >= 0)) throw new Error('--duration and --runs must be positive numbers, --warmup and --settle not negative');
  const dir = seqbenchDir();
  const names = values.targets.split(',');
  const cells: Cell[] = [];
  let port = Number(values.port);
  for (const name of names) {
    const spec = targets[name];
    if (!spec) throw new Error(`unknown target ${name}; known: ${Object.keys(targets).join(', ')}`);
    const why = spec.unavailable();
    if (why) { console.log(`skip ${name}: ${why}`); continue; }
    const matrix = values.scaling ? scalingMatrix : values.quick ? quickMatrix : name.startsWith('etcd') ? fullMatrix.filter((w) => w.keys === 1 && w.pipeline === 1) : fullMatrix;
    for (const w of matrix) {
      // A fresh server per workload keeps one run's backlog out of the next.
      const running = await spec.start(port); port += 20;
      try {
        const cell = await measure(dir, running, w, runs, durationS, warmupS, settleS);
        console.error(`${name} ${describe(w)}: ${cell.opsPerS} ops/s p50 ${cell.p50Ms} ms p99 ${cell.p99Ms} ms${cell.checkOk ? '' : ' CHECK FAILED'}`);
        cells.push(cell);
      } finally { await running.stop(); }
    }
  }
  printTable(cells, names.filter((n) => cells.some((c) => c.target === n)));
  const out = join(repoDir, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const file = join(out, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, durationS, warmupS, settleS, runs, cells }, null, 2));
  console.log(`\nJSON: ${file}`);
  if (cells.some((c) => c.checkOk === false)) process.exitCode = 1;
}

main().catch((err) => { console.error(`bench: ${err instanceof Error ? err.message : err}`); process.exit(1); });
