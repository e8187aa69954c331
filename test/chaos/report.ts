/**
 * Writes a run's results next to each other in its directory:
 *   report.json     seed, schedule, faults applied, check verdict, violations with their ops
 *   summary.txt     the checker's tables and windows (what the CLI prints)
 *   throughput.svg  ok ops/s over time with the faults marked
 * (raw.json, written by the run itself, holds the full history.)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckReport } from './checker/check.ts';
import { formatReport } from './checker/format.ts';
import { type Op, opToJson } from './checker/history.ts';
import { leaderSpans } from './monitor.ts';
import { throughputSvg } from './plot.ts';
import type { RawRun } from './run-in-namespace.ts';
import { describeEvent } from './schedule.ts';
import { describeStalls, longestStalls } from './stalls.ts';

export interface WrittenReport {
  readonly summary: string;
  readonly paths: readonly string[];
}

export function writeReport(outDir: string, raw: RawRun, history: readonly Op[], check: CheckReport): WrittenReport {
  const { config } = raw;
  const durationMs = config.schedule.durationMs;
  const okOps = history.filter((o) => o.status === 'ok').length;
  const stalls = longestStalls(history, raw.faults);
  const header = [
    `seqdb chaos run: seed ${config.seed}, ${durationMs / 1000} s, ${config.namespaces.length / config.shards} node(s) x ${config.shards} shard(s), ${config.processes} client(s)`,
    `cluster start ${(raw.startupMs / 1000).toFixed(1)} s; leader after final heal: ${raw.recoveryMs.map((m) => (m === null ? 'NONE' : `${(m / 1000).toFixed(1)} s`)).join(', ')}`,
    `throughput: ${(okOps / (durationMs / 1000)).toFixed(0)} ok ops/s on average`,
    ...(raw.rebalanceFinal ? [
      `final rebalance: exit ${String(raw.rebalanceFinal.exit)}; slots per shard after it: ${JSON.stringify(raw.rebalanceFinal.slots)}`,
      ...(raw.rebalanceFinal.exit !== 0 ? [`WARNING: the final rebalance did not complete (not a checked property; see nodes/rebalance.log): ${raw.rebalanceFinal.tail}`] : []),
    ] : []),
    'faults:',
    ...raw.faults.map((f) => `  #${f.id} ${(f.startMs / 1000).toFixed(1)}s-${(f.endMs / 1000).toFixed(1)}s ${f.kind} ${f.shard} [${f.targets.join(',')}] ${f.note}`),
    ...describeStalls(stalls),
    '',
  ];
  const summary = header.join('\n') + formatReport(check, history);
  const report = {
    seed: config.seed,
    durationMs,
    shards: config.shards,
    nodes: config.namespaces.map((n) => n.address),
    processes: config.processes,
    schedule: config.schedule.events.map(describeEvent),
    faults: raw.faults,
    startupMs: raw.startupMs,
    recoveryMs: raw.recoveryMs,
    rebalanceFinal: raw.rebalanceFinal ?? null,
    stalls,
    verdict: check.verdict,
    rows: check.rows,
    counts: check.counts,
    undecided: check.undecided,
    violations: check.violations.map((v) => ({
      ...v,
      ops: v.window.map((i) => ({ index: i, ...opToJson(history[i]!) })),
      contextOps: v.context.map((i) => ({ index: i, ...opToJson(history[i]!) })),
    })),
  };
  const paths = [join(outDir, 'report.json'), join(outDir, 'summary.txt'), join(outDir, 'throughput.svg')];
  writeFileSync(paths[0]!, JSON.stringify(report, null, 2));
  writeFileSync(paths[1]!, summary + '\n');
  writeFileSync(paths[2]!, throughputSvg({
    title: `seqdb chaos seed ${config.seed}: ${check.verdict}`,
    history,
    durationMs,
    leaders: (raw.shardMembers ?? []).map((members, k) => ({ label: `leader ${k}`, spans: leaderSpans(raw.samples ?? [], members) })),
    faults: raw.faults.map((f) => ({ kind: f.kind, startMs: f.startMs, endMs: Math.max(f.endMs, f.startMs), label: `#${f.id} ${f.kind} [${f.targets.join(',')}] ${f.note}` })),
  }));
  return { summary, paths };
}
