/**
 * Linearizability of one sequence's history: the Wing–Gong search with Lowe's memoization, as
 * Porcupine does it (anishathalye/porcupine, checker.go). Call and return events sit in one
 * time-ordered linked list; the search repeatedly takes a call whose op may take effect now (no
 * return event precedes it in the list), lifts it out, and backtracks when a return is reached
 * with its call still unlinearized. (linearized-set, state) pairs already explored are cached.
 *
 * The search is exponential in the worst case, so it is bounded: past `stepsMax` steps or
 * `cacheEntriesMax` cached configurations it stops and says "undecided" — never "ok".
 */
import type { LogicalOp } from './history.ts';
import { type SeqState, stateKey, step } from './model.ts';

export interface SearchBounds {
  /**
   * Search steps before giving up as undecided. Default 50,000,000 (~10-20 s of search): register
   * sequences of runs with 16 client processes and ~20 unknown outcomes needed 8-12M (seed 9090).
   */
  readonly stepsMax?: number;
  /** Cached (linearized-set, state) configurations before giving up. Default 2,000,000. */
  readonly cacheEntriesMax?: number;
}

export type SearchResult =
  | { readonly outcome: 'ok'; readonly steps: number }
  | {
      readonly outcome: 'violation';
      readonly steps: number;
      readonly longestPrefix: readonly number[];
      /** The latest return the search ever reached: no order gets past it, so the fault is at or before it. */
      readonly frontierMs: number;
    }
  | { readonly outcome: 'undecided'; readonly steps: number; readonly reason: string };

interface Entry {
  readonly isCall: boolean;
  readonly opId: number;
  readonly time: number;
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/**
 * Checks `ops` (indexes 0..n-1 are their ids in results) from `initial`. Ops with an unknown
 * outcome must have complete = Infinity: they may take effect at any point after their
 * invocation, which includes "never".
 */
export function checkLinearizable(ops: readonly LogicalOp[], initial: SeqState, bounds: SearchBounds = {}): SearchResult {
  const stepsMax = bounds.stepsMax ?? 50_000_000;
  const cacheEntriesMax = bounds.cacheEntriesMax ?? 2_000_000;
  const head = buildList(ops);
  const linearized = new Bitset(ops.length);
  const cache = new Map<string, true>();
  const calls: Array<{ entry: Entry; state: SeqState }> = [];
  let longest: number[] = [];
  let frontierMs = -Infinity;
  let state = initial;
  let entry = head.next;
  let steps = 0;
  while (head.next !== null) {
    if (++steps > stepsMax) return { outcome: 'undecided', steps, reason: `search passed ${stepsMax} steps` };
    if (entry === null) throw new Error('linearizability: ran off the event list');
    if (entry.isCall) {
      const next = step(state, ops[entry.opId]!);
      if (next !== undefined) {
        linearized.set(entry.opId);
        const key = linearized.key() + '|' + stateKey(next);
        if (!cache.has(key)) {
          if (cache.size >= cacheEntriesMax) return { outcome: 'undecided', steps, reason: `cache passed ${cacheEntriesMax} configurations` };
          cache.set(key, true);
          calls.push({ entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized.clear(entry.opId);
      }
      entry = entry.next;
      continue;
    }
    // A return whose call is still in the list: that op must have taken effect by now and cannot.
    if (calls.length > longest.length) longest = calls.map((c) => c.entry.opId);
    if (entry.time > frontierMs) frontierMs = entry.time;
    const top = calls.pop();
    if (top === undefined) {
      return { outcome: 'violation', steps, longestPrefix: longest, frontierMs };
    }
    state = top.state;
    linearized.clear(top.entry.opId);
    unlift(top.entry);
    entry = top.entry.next;
  }
  return { outcome: 'ok', steps };
}

function buildList(ops: readonly LogicalOp[]): Entry {
  const events: Entry[] = [];
  ops.forEach((op, opId) => {
    if (!(op.complete >= op.invoke)) throw new RangeError(`op ${opId} completes before it is invoked`);
    const call: Entry = { isCall: true, opId, time: op.invoke, match: null, prev: null, next: null };
    const ret: Entry = { isCall: false, opId, time: op.complete, match: null, prev: null, next: null };
    call.match = ret;
    ret.match = call;
    events.push(call, ret);
  });
  // Calls before returns at equal times: ops that touch in time count as concurrent.
  events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.opId - b.opId);
  const head: Entry = { isCall: false, opId: -1, time: -Infinity, match: null, prev: null, next: null };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next !== null) call.next.prev = call;
}

class Bitset {
  private readonly words: Uint32Array;
  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32) || 1);
  }
  set(i: number): void {
    this.words[i >>> 5]! |= 1 << (i & 31);
  }
  clear(i: number): void {
    this.words[i >>> 5]! &= ~(1 << (i & 31));
  }
  key(): string {
    // Linearization runs roughly in time order, so the set is a run of full words and a sparse
    // tail: the key names the run's length and lists the tail's non-zero words.
    let full = 0;
    while (full < this.words.length && this.words[full] === 0xffffffff) full++;
    let out = full.toString(36) + '/';
    for (let i = full; i < this.words.length; i++) if (this.words[i] !== 0) out += i.toString(36) + ':' + this.words[i]!.toString(36) + ',';
    return out;
  }
}
