/**
 * Linearizability of an INC-only client history (the check in shared/notes/raft.md). Each key is
 * a counter starting at `start`; INC returns the new value. ok ops carry a value, unknown ops
 * may or may not have taken effect, fail ops certainly did not.
 */

export type OpOutcome = 'pending' | 'ok' | 'fail' | 'unknown';

export interface IncOp {
  readonly id: number;
  readonly key: string;
  /** Virtual time of the invocation. */
  readonly invokeAt: number;
  /** Virtual time the client saw the outcome (ok/fail/unknown); null while pending. */
  completeAt: number | null;
  outcome: OpOutcome;
  value?: number;
}

/** A completed linearizable read (ReadIndex) of one counter. */
export interface ReadOp {
  readonly id: number;
  readonly key: string;
  readonly invokeAt: number;
  readonly completeAt: number;
  readonly value: number;
}

export interface HistoryInput {
  readonly ops: readonly IncOp[];
  /** Completed reads; failed or timed-out reads say nothing and are left out. */
  readonly reads?: readonly ReadOp[];
  /** Counter value before the first INC. Default 0. */
  readonly start?: number;
  /** A final linearizable read of every key, taken after all ops finished. */
  readonly finalValues?: ReadonlyMap<string, number>;
  /**
   * Ground truth from the replicated state machine: the value each op's entry produced when it
   * was applied (op id -> value). Lets the check see a failed op that took a value anyway.
   */
  readonly appliedValues?: ReadonlyMap<number, number>;
}

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly property: string; readonly detail: string };

const PASS: Verdict = { ok: true };

export function checkIncHistory(input: HistoryInput): Verdict {
  const start = input.start ?? 0;
  const truth = input.appliedValues ? checkTruth(input.ops, input.appliedValues) : PASS;
  if (!truth.ok) return truth;
  const byKey = new Map<string, IncOp[]>();
  for (const op of input.ops) {
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  for (const key of input.finalValues?.keys() ?? []) if (!byKey.has(key)) byKey.set(key, []);
  // A key only read (never incremented) can only read its start value (a checker review).
  for (const r of input.reads ?? []) if (!byKey.has(r.key)) byKey.set(r.key, []);
  for (const [key, ops] of byKey) {
    const verdict = checkKey(key, ops, start, input.finalValues?.get(key));
    if (!verdict.ok) return verdict;
    const reads = (input.reads ?? []).filter((r) => r.key === key);
    const rv = checkReads(key, ops, reads, start);
    if (!rv.ok) return rv;
  }
  return PASS;
}

/**
 * A read of value v saw exactly the INCs that took values <= v. So: no INC that returned a
 * larger value before the read began (stale read); no INC invoked after the read ended took a
 * value <= v (a read from the future); v is reachable by the INCs invoked before the read
 * ended; and reads in real-time order never go backwards.
 */
function checkReads(key: string, ops: readonly IncOp[], reads: readonly ReadOp[], start: number): Verdict {
  const oks = ops.filter((o) => o.outcome === 'ok');
  const possible = ops.filter((o) => o.outcome !== 'fail');
  for (const r of reads) {
    const stale = oks.find((o) => (o.completeAt as number) < r.invokeAt && (o.value as number) > r.value);
    if (stale) return fail('stale-read', `${key}: read ${r.id} [${r.invokeAt}, ${r.completeAt}] saw ${r.value}, but op ${stale.id} returned ${stale.value} at ${stale.completeAt}`);
    const future = oks.find((o) => o.invokeAt > r.completeAt && (o.value as number) <= r.value);
    if (future) return fail('read-from-future', `${key}: read ${r.id} ended at ${r.completeAt} with ${r.value}, but op ${future.id} invoked at ${future.invokeAt} got ${future.value}`);
    const reachable = start + possible.filter((o) => o.invokeAt <= r.completeAt).length;
    if (r.value < start || r.value > reachable) return fail('read-value-out-of-range', `${key}: read ${r.id} saw ${r.value}, reachable ${reachable}`);
  }
  const byComplete = [...reads].sort((a, b) => a.completeAt - b.completeAt);
  for (const b of reads) {
    const earlier = byComplete.find((a) => a.completeAt < b.invokeAt && a.value > b.value);
    if (earlier) return fail('read-order', `${key}: read ${earlier.id} saw ${earlier.value} before read ${b.id} began, which saw ${b.value}`);
  }
  return PASS;
}

function fail(property: string, detail: string): Verdict {
  return { ok: false, property, detail };
}

function checkTruth(ops: readonly IncOp[], applied: ReadonlyMap<number, number>): Verdict {
  // Every op that applied, unknown ones included, took its own number (a checker review: two
  // applied INCs with one number, one of them reported unknown, passed).
  const owner = new Map<string, IncOp>();
  for (const op of ops) {
    const v = applied.get(op.id);
    if (v === undefined) continue;
    const dup = owner.get(`${op.key}\u0000${v}`);
    if (dup !== undefined) return fail('duplicate-applied-value', `${op.key}: ops ${dup.id} and ${op.id} both took ${v} in the state machine`);
    owner.set(`${op.key}\u0000${v}`, op);
  }
  // Real time holds for what applied too: an op invoked after another returned v took more.
  const oks = ops.filter((a) => a.outcome === 'ok' && a.completeAt !== null).sort((x, y) => (x.completeAt as number) - (y.completeAt as number));
  const appliedOps = ops.filter((b) => applied.has(b.id)).sort((x, y) => x.invokeAt - y.invokeAt);
  const maxBefore = new Map<string, IncOp>();
  let i = 0;
  for (const b of appliedOps) {
    for (; i < oks.length && (oks[i]!.completeAt as number) < b.invokeAt; i++) {
      const a = oks[i]!;
      const best = maxBefore.get(a.key);
      if (best === undefined || (a.value as number) > (best.value as number)) maxBefore.set(a.key, a);
    }
    const before = maxBefore.get(b.key);
    const v = applied.get(b.id)!;
    if (before !== undefined && (before.value as number) >= v) {
      return fail('applied-real-time', `${b.key}: op ${b.id} invoked at ${b.invokeAt} took ${v}, but op ${before.id} returned ${before.value} at ${before.completeAt}`);
    }
  }
  for (const op of ops) {
    const v = applied.get(op.id);
    if (op.outcome === 'fail' && v !== undefined) {
      return fail('failed-op-applied', `op ${op.id} (${op.key}) reported failed but took value ${v}`);
    }
    if (op.outcome === 'ok' && v !== op.value) {
      return fail('ok-value-mismatch', `op ${op.id} (${op.key}) reported ${op.value}, state machine gave ${v ?? 'nothing'}`);
    }
  }
  return PASS;
}

function checkKey(key: string, ops: readonly IncOp[], start: number, finalValue: number | undefined): Verdict {
  const oks = ops.filter((o) => o.outcome === 'ok');
  const unknowns = ops.filter((o) => o.outcome === 'unknown' || o.outcome === 'pending');
  const seen = new Map<number, number>();
  for (const o of oks) {
    if (o.value === undefined || o.completeAt === null) return fail('malformed-op', `ok op ${o.id} without value or completion`);
    const dup = seen.get(o.value);
    if (dup !== undefined) return fail('duplicate-value', `${key}: ops ${dup} and ${o.id} both got ${o.value}`);
    seen.set(o.value, o.id);
  }
  const maxOk = oks.reduce((m, o) => Math.max(m, o.value as number), start);
  const ceiling = start + oks.length + unknowns.length;
  for (const o of oks) {
    const v = o.value as number;
    if (v <= start || v > ceiling) return fail('value-out-of-range', `${key}: op ${o.id} got ${v}, possible (${start}, ${ceiling}]`);
  }
  const rt = checkRealTime(key, oks);
  if (!rt.ok) return rt;
  if (finalValue !== undefined && (finalValue < maxOk || finalValue > ceiling)) {
    return fail('final-value', `${key}: final value ${finalValue}, max ok ${maxOk}, at most ${ceiling} INCs took effect`);
  }
  return checkGaps(key, oks, unknowns, start, finalValue ?? maxOk);
}

/** If a returned before b was invoked, val(a) < val(b). Sweep b by invocation time. */
function checkRealTime(key: string, oks: readonly IncOp[]): Verdict {
  const byComplete = [...oks].sort((x, y) => (x.completeAt as number) - (y.completeAt as number));
  const byInvoke = [...oks].sort((x, y) => x.invokeAt - y.invokeAt);
  let i = 0;
  let best: IncOp | null = null;
  for (const b of byInvoke) {
    while (i < byComplete.length && (byComplete[i]!.completeAt as number) < b.invokeAt) {
      const a = byComplete[i]!;
      if (best === null || (a.value as number) > (best.value as number)) best = a;
      i++;
    }
    if (best !== null && (best.value as number) >= (b.value as number)) {
      return fail(
        'real-time-order',
        `${key}: op ${best.id} returned ${best.value} at ${best.completeAt}, before op ${b.id} was invoked at ${b.invokeAt}, which got ${b.value}`,
      );
    }
  }
  return PASS;
}

/**
 * Every value in (start, top] is an ok value or taken by a distinct unknown op that could have
 * taken it: larger than every value returned before that op was invoked. Eligibility only grows
 * with v, so matching greedily in ascending v is exact.
 */
function checkGaps(key: string, oks: readonly IncOp[], unknowns: readonly IncOp[], start: number, top: number): Verdict {
  const okValues = new Set(oks.map((o) => o.value as number));
  const byComplete = [...oks].sort((x, y) => (x.completeAt as number) - (y.completeAt as number));
  const floors = unknowns
    .map((u) => {
      let floor = start;
      for (const a of byComplete) {
        if ((a.completeAt as number) >= u.invokeAt) break;
        floor = Math.max(floor, a.value as number);
      }
      return floor;
    })
    .sort((x, y) => x - y);
  let eligible = 0;
  let next = 0;
  for (let v = start + 1; v <= top; v++) {
    while (next < floors.length && floors[next]! < v) {
      eligible++;
      next++;
    }
    if (okValues.has(v)) continue;
    if (eligible === 0) return fail('unexplained-gap', `${key}: value ${v} was taken by no ok op and no unknown op could have taken it`);
    eligible--;
  }
  return PASS;
}
