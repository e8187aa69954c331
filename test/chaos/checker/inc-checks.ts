/**
 * The direct checks for a sequence only ever incremented (no SET in the history), from
 * shared/notes/raft.md "A complete check for INC-only histories", with start value 0:
 * 1. ok values are distinct; 2. each is in (0, INC invocations]; 3. real-time order: if a
 * returned before b was invoked, val(a) < val(b); 4. no gap below the largest ok value that no
 * unknown INC could have taken. Each finding names the ops that show it.
 */
import type { KeyHistory, LogicalOp } from './history.ts';

export type IncCheckName = 'duplicate' | 'range' | 'real-time' | 'gap';

export interface IncFinding {
  readonly check: IncCheckName;
  readonly key: string;
  readonly detail: string;
  /** Positions in KeyHistory.ops of the ops that show the violation. */
  readonly witnesses: readonly number[];
}

export function checkIncOnly(h: KeyHistory): IncFinding[] {
  if (h.hasSet) throw new Error('checkIncOnly: the sequence has SETs');
  const incs = h.ops.map((op, pos) => ({ op, pos })).filter((x) => x.op.kind === 'inc');
  const oks = incs.filter((x) => x.op.status === 'ok');
  const unknowns = incs.filter((x) => x.op.status !== 'ok');
  const reads = finalReads(h, oks);
  const readTop = reads.reduce((m, p) => (val(p) > m ? val(p) : m), 0n);
  return [
    ...duplicates(h.key, oks),
    ...range(h.key, oks, incs.length),
    ...realTime(h.key, oks),
    ...readRange(h.key, reads, oks, incs.length),
    ...gaps(h.key, oks, unknowns, readTop, reads.find((r) => val(r) === readTop)?.pos),
  ];
}

/**
 * The GETs that answered after every acknowledged INC of the sequence had returned (a chaos run's
 * read-back, read-back.ts): each must see at least the largest acknowledged number, at most the
 * INCs invoked, and every number up to it must have been taken by some INC (the gap check runs
 * up to it). A number taken after a sequence's last acknowledged INC was otherwise never seen.
 */
export function finalReads(h: KeyHistory, oks: readonly Placed[] = incOks(h)): Placed[] {
  const lastOkMs = oks.reduce((m, p) => Math.max(m, p.op.complete), Number.NEGATIVE_INFINITY);
  // Also after every INC was invoked (an INC invoked later cannot explain a number
  // the GET saw), so the gap check's matching and the invocation bound hold for the read.
  const lastInvokeMs = h.ops.reduce((m, op) => (op.kind === 'inc' ? Math.max(m, op.invoke) : m), Number.NEGATIVE_INFINITY);
  return h.ops
    .map((op, pos) => ({ op, pos }))
    .filter((x) => x.op.kind === 'get' && x.op.status === 'ok' && typeof x.op.value === 'bigint' && x.op.invoke > lastOkMs && x.op.invoke > lastInvokeMs);
}

/** Whether every GET of the sequence is a final read (then the INC checks decide it whole). */
export function onlyFinalReads(h: KeyHistory): boolean {
  const gets = h.ops.filter((op) => op.kind === 'get').length;
  return gets === finalReads(h).length;
}

function incOks(h: KeyHistory): Placed[] {
  return h.ops.map((op, pos) => ({ op, pos })).filter((x) => x.op.kind === 'inc' && x.op.status === 'ok');
}

function readRange(key: string, reads: readonly Placed[], oks: readonly Placed[], invocations: number): IncFinding[] {
  const top = oks.reduce<Placed | null>((m, p) => (m === null || val(p) > val(m) ? p : m), null);
  const out: IncFinding[] = [];
  // A read that began after another ended never sees less (the counter only grows; a review).
  for (const a of reads) {
    for (const b of reads) {
      if (a.op.complete < b.op.invoke && val(b) < val(a)) {
        out.push({ check: 'range', key, detail: `read ${val(b)} after a read of ${val(a)} had returned`, witnesses: [a.pos, b.pos] });
        return out;
      }
    }
  }
  for (const r of reads) {
    if (val(r) < 1n) out.push({ check: 'range', key, detail: `read ${val(r)}, but an INC'd sequence starts at 1 (nil before)`, witnesses: [r.pos] });
    else if (top !== null && val(r) < val(top)) out.push({ check: 'range', key, detail: `read ${val(r)} after ${val(top)} was acknowledged`, witnesses: [top.pos, r.pos] });
    else if (val(r) > BigInt(invocations)) out.push({ check: 'range', key, detail: `read ${val(r)}, but only ${invocations} INC(s) were invoked`, witnesses: [r.pos] });
  }
  return out;
}

interface Placed {
  readonly op: LogicalOp;
  readonly pos: number;
}

const val = (p: Placed): bigint => p.op.value as bigint;

function duplicates(key: string, oks: readonly Placed[]): IncFinding[] {
  const seen = new Map<bigint, Placed>();
  const out: IncFinding[] = [];
  for (const p of oks) {
    const prev = seen.get(val(p));
    if (prev !== undefined) {
      out.push({ check: 'duplicate', key, detail: `${val(p)} acknowledged twice`, witnesses: [prev.pos, p.pos] });
    } else seen.set(val(p), p);
  }
  return out;
}

function range(key: string, oks: readonly Placed[], invocations: number): IncFinding[] {
  const ceiling = BigInt(invocations);
  return oks
    .filter((p) => val(p) <= 0n || val(p) > ceiling)
    .map((p) => ({ check: 'range' as const, key, detail: `${val(p)} returned, but only ${invocations} INC(s) were invoked`, witnesses: [p.pos] }));
}

/** Sweep b by invocation time, keeping the largest value returned before it: one finding per b. */
function realTime(key: string, oks: readonly Placed[]): IncFinding[] {
  const byComplete = [...oks].sort((x, y) => x.op.complete - y.op.complete);
  const byInvoke = [...oks].sort((x, y) => x.op.invoke - y.op.invoke);
  const out: IncFinding[] = [];
  let i = 0;
  let best: Placed | null = null;
  for (const b of byInvoke) {
    while (i < byComplete.length && byComplete[i]!.op.complete < b.op.invoke) {
      const a = byComplete[i]!;
      if (best === null || val(a) > val(best)) best = a;
      i++;
    }
    if (best !== null && val(best) >= val(b)) {
      out.push({
        check: 'real-time',
        key,
        detail: `${val(best)} was returned before an INC began that then got ${val(b)}`,
        witnesses: [best.pos, b.pos],
      });
    }
  }
  return out;
}

/**
 * Every v in (0, max ok] is an ok value or taken by a distinct unknown INC that could have taken
 * it: one invoked after no value >= v had been returned. Eligibility only grows with v, so
 * matching greedily in ascending v is exact. Reports the first unexplained value.
 */
function gaps(key: string, oks: readonly Placed[], unknowns: readonly Placed[], readTop = 0n, readPos?: number): IncFinding[] {
  if (oks.length === 0 && readTop === 0n) return [];
  const okValues = new Map(oks.map((p) => [val(p), p]));
  // Up to the largest final read too: every number it saw was taken by some INC.
  const top = oks.reduce((m, p) => (val(p) > m ? val(p) : m), readTop);
  const byComplete = [...oks].sort((x, y) => x.op.complete - y.op.complete);
  // floor(u): the largest value returned before u was invoked; one sweep over both orders.
  const unknownsByInvoke = [...unknowns].sort((x, y) => x.op.invoke - y.op.invoke);
  const floors: bigint[] = [];
  let k = 0;
  let floor = 0n;
  for (const u of unknownsByInvoke) {
    while (k < byComplete.length && byComplete[k]!.op.complete < u.op.invoke) {
      if (val(byComplete[k]!) > floor) floor = val(byComplete[k]!);
      k++;
    }
    floors.push(floor);
  }
  let eligible = 0;
  let next = 0;
  // Walk the ok values and the holes between them without visiting each number of a huge range.
  const sorted = [...okValues.keys()].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  let v = 1n;
  for (const okValue of [...sorted, top + 1n]) {
    for (; v < okValue; v++) {
      while (next < floors.length && floors[next]! < v) {
        eligible++;
        next++;
      }
      if (eligible === 0) return [gapFinding(key, v, sorted, okValues, readPos)];
      eligible--;
    }
    v = okValue + 1n;
  }
  return [];
}

function gapFinding(key: string, v: bigint, sorted: readonly bigint[], okValues: ReadonlyMap<bigint, Placed>, readPos?: number): IncFinding {
  const below = [...sorted].reverse().find((x) => x < v);
  const above = sorted.find((x) => x > v);
  const witnesses = [below, above].filter((x): x is bigint => x !== undefined).map((x) => okValues.get(x)!.pos);
  // Above every acknowledged number: the final read that saw it.
  if (above === undefined && readPos !== undefined) witnesses.push(readPos);
  return {
    check: 'gap',
    key,
    detail: `${v} was taken by no acknowledged INC and no INC of unknown outcome could have taken it`,
    witnesses,
  };
}
