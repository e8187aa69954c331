/**
 * Small non-linearizable windows of a sequence history: to shrink a violation to a few ops for
 * the report, and to prove a violation where the search over the whole history was undecided.
 *
 * A window is ops[i..j] in invocation order. Ops outside it that overlap its time span are kept
 * but weakened (outcome unknown: they may take effect anywhere after their invocation, output
 * ignored); a window that starts past the first op starts from the ANY state. If the whole
 * history is linearizable, so is every such window — so a window that fails proves a violation.
 * A window whose own search is undecided counts as not failing.
 */
import type { LogicalOp } from './history.ts';
import { checkLinearizable, type SearchBounds } from './linearizability.ts';
import { ANY } from './model.ts';

export interface Window {
  /** Positions (in the key's ops) of the window itself. */
  readonly positions: readonly number[];
  /** Positions of overlapping ops included with their outcome weakened. */
  readonly weakened: readonly number[];
}

/** How far back from the failing end the start is searched one op at a time. */
const START_SCAN_OPS_MAX = 128;

/**
 * Shrinks a failing range [from, to] (whole history by default) to a small failing window.
 * `frontierMs` (from the failed search) says where no order got past: the window ends there.
 */
export function failingWindow(ops: readonly LogicalOp[], bounds: SearchBounds, from = 0, to = ops.length - 1, frontierMs?: number): Window {
  const fails = (i: number, j: number): boolean => checkLinearizable(cut(ops, i, j).ops, i === 0 ? null : ANY, bounds).outcome === 'violation';
  if (frontierMs !== undefined) {
    let end = from;
    while (end < to && ops[end + 1]!.invoke <= frontierMs) end++;
    const w = latestFailingStart(end);
    if (w !== null) return w;
  }
  // The earliest end that fails from `from`, by bisection.
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (fails(from, mid)) hi = mid;
    else lo = mid + 1;
  }
  const j = lo;
  const near = latestFailingStart(j);
  if (near !== null) return near;
  lo = from;
  hi = j;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (fails(mid, j)) lo = mid;
    else hi = mid - 1;
  }
  return toWindow(fails(lo, j) ? cut(ops, lo, j) : cut(ops, from, to));

  /** The latest start that fails with end j, one op at a time: near the end windows are small and cheap. */
  function latestFailingStart(j: number): Window | null {
    for (let i = j; i >= Math.max(from, j - START_SCAN_OPS_MAX); i--) if (fails(i, j)) return toWindow(cut(ops, i, j));
    return null;
  }
}

/**
 * Looks for a failing window among overlapping windows of `sizeOps` ops (stride half of that);
 * returns the first, shrunk, or null when every window passes or is undecided.
 */
export function scanWindows(ops: readonly LogicalOp[], sizeOps: number, bounds: SearchBounds): Window | null {
  const stride = Math.max(1, sizeOps >> 1);
  for (let i = 0; i < ops.length; i += stride) {
    const j = Math.min(ops.length - 1, i + sizeOps - 1);
    const w = cut(ops, i, j);
    const r = checkLinearizable(w.ops, i === 0 ? null : ANY, bounds);
    if (r.outcome === 'violation') return failingWindow(ops, bounds, i, j, r.frontierMs);
    if (j === ops.length - 1) break;
  }
  return null;
}

function toWindow(w: { positions: number[]; weakened: number[] }): Window {
  return { positions: w.positions, weakened: w.weakened };
}

function cut(ops: readonly LogicalOp[], i: number, j: number): { ops: LogicalOp[]; positions: number[]; weakened: number[] } {
  const start = ops[i]!.invoke;
  // Unknown ops in the window (complete = Infinity) do not stretch it: they may take effect after
  // every later op, and such an order drops out of the window without changing any output in it.
  let end = -Infinity;
  for (let k = i; k <= j; k++) end = Math.max(end, Number.isFinite(ops[k]!.complete) ? ops[k]!.complete : ops[k]!.invoke);
  const out: LogicalOp[] = [];
  const positions: number[] = [];
  const weakened: number[] = [];
  ops.forEach((op, k) => {
    if (k >= i && k <= j) {
      out.push(op);
      positions.push(k);
    } else if (op.complete >= start && op.invoke <= end && op.kind !== 'get') {
      out.push({ ...op, status: 'unknown', complete: Infinity, value: op.kind === 'set' ? op.value : undefined });
      weakened.push(k);
    }
  });
  return { ops: out, positions, weakened };
}
