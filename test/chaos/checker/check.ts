/**
 * Checks a whole chaos history: pure, no I/O. Every sequence is checked on its own (operations
 * on different sequences never constrain each other).
 *
 * - well-formed: the recorder wrote what the checker needs (else nothing else can be trusted).
 * - token: every attempt of one `INC ... ID token` that got a reply got the same number.
 * - duplicate / range / real-time / gap: the INC checks (inc-checks.ts) on sequences never SET,
 *   with their final reads (GETs after every acknowledged INC: a chaos run's read-back).
 * - linearizable: the Wing–Gong search (linearizability.ts) on sequences with a SET or another GET.
 *
 * The verdict is 'undecided' (never 'valid') when a bounded search gave up.
 */
import { checkIncOnly, onlyFinalReads, type IncCheckName } from './inc-checks.ts';
import { type KeyHistory, type Op, type OpStatus, type OpType, partition } from './history.ts';
import { checkLinearizable, type SearchBounds } from './linearizability.ts';
import { failingWindow, scanWindows, type Window } from './window.ts';

/**
 * Violations kept (with their windows) per check; the rest are only counted. Past it, the search
 * on further sequences runs with SEARCH_STEPS_PAST_CAP and no window shrinking: a broken system
 * gives thousands of failing sequences, and the verdict is already INVALID.
 */
export const VIOLATIONS_KEPT_PER_CHECK = 20;
const SEARCH_STEPS_PAST_CAP = 200_000;

/** Ops per window when scanning a sequence whose whole search was undecided. */
const SCAN_WINDOW_OPS = 32;

export type CheckName = 'well-formed' | 'token' | IncCheckName | 'linearizable';
export const CHECK_NAMES: readonly CheckName[] = ['well-formed', 'token', 'duplicate', 'range', 'real-time', 'gap', 'linearizable'];

export interface Violation {
  readonly check: CheckName;
  /** The sequence, as JSON [bucket, sequence]; '' for history-wide findings. */
  readonly key: string;
  readonly detail: string;
  /** History indexes of the smallest window that shows it. */
  readonly window: readonly number[];
  /** History indexes of overlapping ops the window needs, with their outcome treated as unknown. */
  readonly context: readonly number[];
}

export interface CheckRow {
  readonly check: CheckName;
  readonly sequences: number;
  readonly ops: number;
  readonly violations: number;
  readonly undecided: number;
}

export interface CheckReport {
  readonly verdict: 'valid' | 'invalid' | 'undecided';
  readonly rows: readonly CheckRow[];
  /** The first VIOLATIONS_KEPT_PER_CHECK of each check; rows count them all. */
  readonly violations: readonly Violation[];
  readonly violationsTotal: number;
  readonly undecided: ReadonlyArray<{ readonly key: string; readonly reason: string }>;
  /** counts[type][status] over the raw history. */
  readonly counts: Readonly<Record<OpType, Readonly<Record<OpStatus, number>>>>;
  readonly sequences: number;
}

export interface CheckOptions {
  /** Bounds of the search on each whole sequence. */
  readonly bounds?: SearchBounds;
  /** Bounds of each search while shrinking a failing sequence to a window. */
  readonly windowBounds?: SearchBounds;
}

export function checkHistory(history: readonly Op[], options: CheckOptions = {}): CheckReport {
  const rows = new Map<CheckName, { sequences: number; ops: number; violations: number; undecided: number }>(
    CHECK_NAMES.map((c) => [c, { sequences: 0, ops: 0, violations: 0, undecided: 0 }]),
  );
  const violations: Violation[] = [];
  const undecided: Array<{ key: string; reason: string }> = [];
  const add = (v: Violation): void => {
    const row = rows.get(v.check)!;
    if (row.violations < VIOLATIONS_KEPT_PER_CHECK) violations.push(v);
    row.violations++;
  };
  const formed = wellFormed(history);
  rows.get('well-formed')!.ops = history.length;
  formed.forEach(add);
  const counts = countOps(history);
  if (formed.length > 0) return finish();
  const { keys, tokenConflicts } = partition(history);
  rows.get('token')!.sequences = keys.length;
  rows.get('token')!.ops = history.filter((o) => o.type === 'incId').length;
  for (const c of tokenConflicts) {
    add({ check: 'token', key: c.key, detail: `token ${c.token} answered ${c.values.join(' and ')}`, window: c.opIndexes, context: [] });
  }
  for (const h of keys) {
    if (!h.hasSet) incChecks(h, rows, add);
    // GETs after every acknowledged INC (the read-back) are decided by the INC checks: the search
    // over a hot sequence's unknown INCs gave up (UNDECIDED) once each sequence ended in one.
    if (h.hasSet || (h.hasGet && !onlyFinalReads(h))) linearizable(h, options, rows, add, undecided);
  }
  return finish();

  function finish(): CheckReport {
    const violationsTotal = [...rows.values()].reduce((n, r) => n + r.violations, 0);
    const verdict = violationsTotal > 0 ? 'invalid' : undecided.length > 0 ? 'undecided' : 'valid';
    return {
      verdict,
      violationsTotal,
      rows: CHECK_NAMES.map((check) => ({ check, ...rows.get(check)! })),
      violations,
      undecided,
      counts,
      sequences: new Set(history.map((o) => JSON.stringify([o.bucket, o.sequence]))).size,
    };
  }
}

type Rows = Map<CheckName, { sequences: number; ops: number; violations: number; undecided: number }>;

function incChecks(h: KeyHistory, rows: Rows, add: (v: Violation) => void): void {
  const incOps = h.ops.filter((o) => o.kind === 'inc').length;
  for (const name of ['duplicate', 'range', 'real-time', 'gap'] as const) {
    rows.get(name)!.sequences++;
    rows.get(name)!.ops += incOps;
  }
  for (const f of checkIncOnly(h)) {
    add({ check: f.check, key: h.key, detail: f.detail, window: f.witnesses.flatMap((p) => h.ops[p]!.opIndexes), context: [] });
  }
}

function linearizable(
  h: KeyHistory,
  options: CheckOptions,
  rows: Rows,
  add: (v: Violation) => void,
  undecided: Array<{ key: string; reason: string }>,
): void {
  const row = rows.get('linearizable')!;
  row.sequences++;
  row.ops += h.ops.length;
  const windowBounds = options.windowBounds ?? { stepsMax: 50_000, cacheEntriesMax: 50_000 };
  if (row.violations >= VIOLATIONS_KEPT_PER_CHECK) {
    const quick = checkLinearizable(h.ops, null, { ...options.bounds, stepsMax: Math.min(options.bounds?.stepsMax ?? Infinity, SEARCH_STEPS_PAST_CAP) });
    if (quick.outcome === 'violation') add({ check: 'linearizable', key: h.key, detail: 'not linearizable', window: [], context: [] });
    else if (quick.outcome === 'undecided') {
      row.undecided++;
      undecided.push({ key: h.key, reason: quick.reason });
    }
    return;
  }
  const result = checkLinearizable(h.ops, null, options.bounds);
  if (result.outcome === 'ok') return;
  let w: Window | null;
  let how = '';
  if (result.outcome === 'undecided') {
    // A small window that fails on its own still proves a violation.
    w = scanWindows(h.ops, SCAN_WINDOW_OPS, windowBounds);
    if (w === null) {
      row.undecided++;
      undecided.push({ key: h.key, reason: result.reason });
      return;
    }
    how = ` (found by the window scan: ${result.reason})`;
  } else {
    w = failingWindow(h.ops, windowBounds, 0, h.ops.length - 1, result.frontierMs);
  }
  add({
    check: 'linearizable',
    key: h.key,
    detail: `no order of these ${w.positions.length} op(s) (and ${w.weakened.length} overlapping one(s) of unknown effect) matches a register with INC/SET/GET${how}`,
    window: w.positions.flatMap((p) => h.ops[p]!.opIndexes),
    context: w.weakened.flatMap((p) => h.ops[p]!.opIndexes),
  });
}

function wellFormed(history: readonly Op[]): Violation[] {
  const out: Violation[] = [];
  history.forEach((op, i) => {
    const problem = malformed(op);
    if (problem !== null) out.push({ check: 'well-formed', key: '', detail: `op ${i}: ${problem}`, window: [i], context: [] });
  });
  return out.slice(0, 20);
}

function malformed(op: Op): string | null {
  if (!Number.isFinite(op.invokeMs) || !Number.isFinite(op.completeMs) || op.completeMs < op.invokeMs) return 'bad times';
  if (!['inc', 'incId', 'set', 'get'].includes(op.type)) return `unknown type ${String(op.type)}`;
  if (!['ok', 'fail', 'unknown'].includes(op.status)) return `unknown status ${String(op.status)}`;
  if (op.type === 'incId' && (op.token === undefined || op.token === '')) return 'incId without a token';
  if (op.type === 'set' && typeof op.value !== 'bigint') return 'set without a value';
  if (op.status !== 'ok') return null;
  if ((op.type === 'inc' || op.type === 'incId') && typeof op.value !== 'bigint') return 'ok INC without a number';
  if (op.type === 'get' && op.value !== null && typeof op.value !== 'bigint') return 'ok GET without a value or nil';
  return null;
}

function countOps(history: readonly Op[]): Record<OpType, Record<OpStatus, number>> {
  const zero = (): Record<OpStatus, number> => ({ ok: 0, fail: 0, unknown: 0 });
  const counts: Record<OpType, Record<OpStatus, number>> = { inc: zero(), incId: zero(), set: zero(), get: zero() };
  for (const op of history) {
    const row = counts[op.type] as Record<OpStatus, number> | undefined;
    if (row !== undefined && op.status in row) row[op.status]++;
  }
  return counts;
}
