/**
 * Keeps a bucket's commands in their arrival order across retries. Commands of a bucket leave in
 * the order they came and a node runs them in the order they arrive, but a command that must try
 * again (TRYAGAIN while its slot moves, MOVED, no leader, a lost connection) used to be overtaken
 * by a later one of the same bucket sent meanwhile, even one pipelined on the same connection:
 * two INCs of one connection then got their numbers in reverse order (a review).
 *
 * So while a command of a bucket is retrying, later commands of that bucket do not go out (first
 * attempts and retries alike) until every earlier one retrying is done; then they go in arrival
 * order. Commands already sent when an earlier one learns that it must retry cannot be called
 * back: they usually meet the same refusal and queue behind it, but one that got through first
 * (a slot unfrozen between the two) keeps its number. Buckets with nothing retrying cost a
 * counter check; entries exist only while a command retries, so they are bounded by the commands
 * in flight.
 */

interface Lane {
  /** Arrival numbers of this bucket's commands now retrying. */
  readonly retrying: Set<number>;
  /** Later commands of the bucket waiting for their turn. */
  readonly waiting: { readonly seq: number; readonly go: () => void }[];
}

export class BucketLanes {
  private readonly lanes = new Map<string, Lane>();
  private arrivals = 0;

  /** The next arrival number: call once per command, in the order commands leave. */
  arrive(): number {
    return ++this.arrivals;
  }

  /**
   * Resolves when no command of `bucket` that arrived before `seq` is retrying, or at
   * `deadlineMs` (monotonic ms, as `nowMs` gives); at once in the common case of none.
   */
  turn(bucket: Buffer, seq: number, deadlineMs: number, nowMs: () => number): Promise<void> | null {
    if (this.lanes.size === 0) return null;
    const lane = this.lanes.get(key(bucket));
    if (lane === undefined || !hasEarlier(lane, seq)) return null;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(go, Math.max(0, deadlineMs - nowMs()));
      function go(): void {
        clearTimeout(timer);
        const at = lane!.waiting.findIndex((w) => w.go === go);
        if (at >= 0) lane!.waiting.splice(at, 1);
        resolve();
      }
      lane.waiting.push({ seq, go });
    });
  }

  /** The command `seq` of `bucket` must try again: later ones wait for it (idempotent). */
  retrying(bucket: Buffer, seq: number): void {
    const k = key(bucket);
    let lane = this.lanes.get(k);
    if (lane === undefined) this.lanes.set(k, (lane = { retrying: new Set(), waiting: [] }));
    lane.retrying.add(seq);
  }

  /** The command `seq` of `bucket` is done (answered or given up): wake those whose turn came. */
  done(bucket: Buffer, seq: number): void {
    if (this.lanes.size === 0) return;
    const k = key(bucket);
    const lane = this.lanes.get(k);
    if (lane === undefined || !lane.retrying.delete(seq)) return;
    // In arrival order, so that woken first attempts leave in the order they came.
    const ready = lane.waiting.filter((w) => !hasEarlier(lane, w.seq)).sort((a, b) => a.seq - b.seq);
    for (const w of ready) w.go();
    if (lane.retrying.size === 0 && lane.waiting.length === 0) this.lanes.delete(k);
  }

  /** Buckets with a command retrying (tests, INFO). */
  get size(): number {
    return this.lanes.size;
  }
}

function hasEarlier(lane: Lane, seq: number): boolean {
  for (const s of lane.retrying) if (s < seq) return true;
  return false;
}

const key = (bucket: Buffer): string => bucket.toString('latin1');
