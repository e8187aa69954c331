/**
 * Where a run stood still: per bucket, the longest times between two answers while its clients
 * kept asking (attempts that failed or got no answer meanwhile). The verdict checks safety and
 * recovery after the final heal, not these: a killed rebalance's batch frozen 44-77 s under
 * catalog leader churn passed as VALID (a chaos review). So the report lists them, and warns of
 * one that lasted more than STALL_WARN_MS after the last fault it overlapped had ended, or longer
 * than STALL_WARN_LONG_MS in all (faults back to back overlap a stall to its end).
 */
import type { Op } from './checker/history.ts';

export interface Stall {
  readonly bucket: string;
  /** Ms since the run began: the last answer before, and the next one (or the end of the last
   * attempt in between, if that came first: nobody asked after it). */
  readonly fromMs: number;
  readonly toMs: number;
  /** Attempts on the bucket that began inside it and did not succeed. */
  readonly failedAttempts: number;
  /** How long it went on after the last overlapping fault ended (all of it if none overlapped). */
  readonly afterFaultsMs: number;
}

export interface FaultSpan {
  readonly startMs: number;
  readonly endMs: number;
}

/** A stall longer than this after its faults ended is warned of. */
export const STALL_WARN_MS = 10_000;
/**
 * ... and one longer than this in all: a slot move abandoned mid-way is taken over after
 * --move-idle-ms (30 s) plus a check interval, by design; beyond that something is wrong.
 */
export const STALL_WARN_LONG_MS = 45_000;
/** Stalls shorter than this are not listed. */
const STALL_MIN_MS = 2_000;

/** The `max` longest stalls of the run (history and fault times are both ms since the run began). */
export function longestStalls(history: readonly Op[], faults: readonly FaultSpan[], max = 5): Stall[] {
  const byBucket = new Map<string, Op[]>();
  for (const op of history) {
    let ops = byBucket.get(op.bucket);
    if (ops === undefined) byBucket.set(op.bucket, (ops = []));
    ops.push(op);
  }
  const stalls: Stall[] = [];
  for (const [bucket, ops] of byBucket) {
    const answers = ops.filter((o) => o.status === 'ok').map((o) => o.completeMs).sort((a, b) => a - b);
    const failed = ops.filter((o) => o.status !== 'ok').sort((a, b) => a.invokeMs - b.invokeMs);
    for (let i = 0; i + 1 < answers.length; i++) {
      const from = answers[i]!;
      const next = answers[i + 1]!;
      if (next - from < STALL_MIN_MS) continue;
      const inside = failed.filter((o) => o.invokeMs >= from && o.invokeMs < next);
      if (inside.length === 0) continue; // nobody asked: idle, not stalled
      // It lasts while asked: clients give up on an op in the end, and the next answer may be the
      // run's read-back long after (the first version counted those minutes as a stall).
      const fromMs = from;
      const toMs = Math.min(next, Math.max(...inside.map((o) => (Number.isFinite(o.completeMs) ? o.completeMs : o.invokeMs))));
      if (toMs - fromMs < STALL_MIN_MS) continue;
      const overlapping = faults.filter((f) => f.startMs < toMs && f.endMs > fromMs);
      const lastEnd = overlapping.length === 0 ? fromMs : Math.max(fromMs, ...overlapping.map((f) => f.endMs));
      stalls.push({ bucket, fromMs, toMs, failedAttempts: inside.length, afterFaultsMs: Math.max(0, toMs - lastEnd) });
    }
  }
  return stalls.sort((a, b) => b.toMs - b.fromMs - (a.toMs - a.fromMs)).slice(0, max);
}

/** Report lines: the stalls, and a WARNING line for each that outlasted its faults too long. */
export function describeStalls(stalls: readonly Stall[]): string[] {
  if (stalls.length === 0) return ['longest stalls: none over 2 s'];
  const lines = ['longest stalls (a bucket asked and not answered):'];
  for (const s of stalls) {
    const warn = s.afterFaultsMs > STALL_WARN_MS ? ' WARNING: went on after its faults ended'
      : s.toMs - s.fromMs > STALL_WARN_LONG_MS ? ' WARNING: longer than an abandoned move takes to be taken over' : '';
    lines.push(`  ${s.bucket} ${(s.fromMs / 1000).toFixed(1)}s-${(s.toMs / 1000).toFixed(1)}s (${((s.toMs - s.fromMs) / 1000).toFixed(1)} s, ${s.failedAttempts} attempts failed, ${(s.afterFaultsMs / 1000).toFixed(1)} s after its faults)${warn}`);
  }
  return lines;
}
