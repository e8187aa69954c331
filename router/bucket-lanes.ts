/**
 * Keeps a bucket's commands in their arrival order across retries. Commands of a bucket leave in
 * the order they came and a node runs them in the order they arrive, but a command that must try
 * again (TRYAGAIN while its slot moves, MOVED, no leader, a lost connection) used to be overtaken
 * by a later one of the same bucket sent meanwhile, even one pipelined on the same connection:
 * two INCs of one connection then got their numbers in reverse order (a review).
 *
 * So a command refused is *held* until it goes out again, and while an earlier command of the
 * bucket is held, later ones (first attempts and retries alike) do not go out; once it is sent
 * they follow in arrival order, pipelined behind it. Waiting for its answer instead would
 * serialize a bucket after every failover (each retried command one round trip after the
 * other). Commands already sent when an earlier one learns that it must retry cannot be called
 * back: they usually meet the same refusal and queue behind it, but one that got through first
 * (a slot unfrozen between the two) keeps its number. Buckets with nothing held cost a size
 * check; entries exist only while a command is held, so they are bounded by the commands in
 * flight.
 */

interface Lane {
  /** Arrival numbers of this bucket's commands refused and not sent again yet. */
  readonly held: Set<number>;
  /** Later commands of the bucket waiting for their turn. */
  waiting: { readonly seq: number; readonly go: (via?: string, released?: boolean) => void }[];
}

/** A bucket's commands in flight: each by arrival number, and how many went to each address. */
interface Flights {
  readonly bySeq: Map<number, { readonly address: string; readonly landed: (() => void)[] }>;
  readonly perAddress: Map<string, number>;
}

export class BucketLanes {
  private readonly lanes = new Map<string, Lane>();
  private arrivals = 0;
  /** Per bucket, commands written to a node and not answered yet: where each went (a review). */
  private readonly flights = new Map<string, Flights>();

  /** Command `seq` of `bucket` was written to `address`: until it is answered, later ones go there or wait. */
  sent(bucket: Buffer, seq: number, address: string): void {
    const k = key(bucket);
    let m = this.flights.get(k);
    if (m === undefined) this.flights.set(k, (m = { bySeq: new Map(), perAddress: new Map() }));
    m.bySeq.set(seq, { address, landed: [] });
    m.perAddress.set(address, (m.perAddress.get(address) ?? 0) + 1);
  }

  /** Command `seq` of `bucket` got its answer (or failed): wake those that waited for it. */
  landed(bucket: Buffer, seq: number): void {
    const k = key(bucket);
    const m = this.flights.get(k);
    const f = m?.bySeq.get(seq);
    if (m === undefined || f === undefined) return;
    m.bySeq.delete(seq);
    const n = m.perAddress.get(f.address)! - 1;
    if (n === 0) m.perAddress.delete(f.address);
    else m.perAddress.set(f.address, n);
    if (m.bySeq.size === 0) this.flights.delete(k);
    for (const w of f.landed) w();
  }

  /**
   * Null unless an earlier command of `bucket` is in flight to another node than `address`: then a
   * promise that resolves when it is answered. A later command sent elsewhere (a leader learned
   * meanwhile) could run first there, before the earlier one learns it must retry. O(1) when the
   * bucket's flights all went to `address` (the common case: a scan cost O(in flight) per command).
   */
  elsewhere(bucket: Buffer, seq: number, address: string): Promise<void> | null {
    if (this.flights.size === 0) return null;
    const m = this.flights.get(key(bucket));
    if (m === undefined || (m.perAddress.size === 1 && m.perAddress.has(address))) return null;
    for (const [s, f] of m.bySeq) {
      if (s < seq && f.address !== address) return new Promise<void>((resolve) => f.landed.push(resolve));
    }
    return null;
  }

  /** The next arrival number: call once per command, in the order commands leave. */
  arrive(): number {
    return ++this.arrivals;
  }

  /**
   * Null when no command of `bucket` that arrived before `seq` is held (the common case), else
   * a promise that resolves once none is, or at `deadlineMs` (monotonic ms, as `nowMs` gives).
   */
  turn(bucket: Buffer, seq: number, deadlineMs: number, nowMs: () => number): Promise<string | undefined> | null {
    if (this.lanes.size === 0) return null;
    const lane = this.lanes.get(key(bucket));
    if (lane === undefined || !hasEarlier(lane, seq)) return null;
    return new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => go(), Math.max(0, deadlineMs - nowMs()));
      let woken = false;
      function go(via?: string, released = false): void {
        if (woken) return;
        woken = true;
        clearTimeout(timer);
        // Woken by release(), which already took it out: no search (O(waiting) each, so waking
        // W waiters cost O(W^2): a review).
        if (!released) {
          const at = lane!.waiting.findIndex((w) => w.go === go);
          if (at >= 0) lane!.waiting.splice(at, 1);
        }
        resolve(via);
      }
      lane.waiting.push({ seq, go });
    });
  }

  /** The command `seq` of `bucket` was refused and will try again: later ones wait (idempotent). */
  hold(bucket: Buffer, seq: number): void {
    const k = key(bucket);
    let lane = this.lanes.get(k);
    if (lane === undefined) this.lanes.set(k, (lane = { held: new Set(), waiting: [] }));
    lane.held.add(seq);
  }

  /**
   * The command `seq` of `bucket` went out again, or is done: wake those whose turn came.
   * Call it right after the send is issued, so that they are written behind it.
   */
  release(bucket: Buffer, seq: number, via?: string): void {
    if (this.lanes.size === 0) return;
    const k = key(bucket);
    const lane = this.lanes.get(k);
    if (lane === undefined || !lane.held.delete(seq)) return;
    // In arrival order, so that the woken leave in the order they came.
    const ready: Lane['waiting'] = [];
    const rest: Lane['waiting'] = [];
    for (const w of lane.waiting) (hasEarlier(lane, w.seq) ? rest : ready).push(w);
    lane.waiting = rest;
    ready.sort((a, b) => a.seq - b.seq);
    for (const w of ready) w.go(via, true);
    if (lane.held.size === 0 && lane.waiting.length === 0) this.lanes.delete(k);
  }

  /** Buckets with a command held (tests, INFO). */
  get size(): number {
    return this.lanes.size;
  }
}

function hasEarlier(lane: Lane, seq: number): boolean {
  for (const s of lane.held) if (s < seq) return true;
  return false;
}

const key = (bucket: Buffer): string => bucket.toString('latin1');
