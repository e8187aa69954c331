/**
 * The time a leader stamps on the writes it proposes: the median of the voters' wall clocks, not
 * its own alone. The stamp moves the shard's replicated clock (state-machine/apply.ts keeps the
 * largest time applied, never going back), which decides token retention and TOKEN_AHEAD /
 * TOKEN_EXPIRED for everyone. With the leader's own clock (a clock review), one NTP step of a
 * leader 2 days ahead, for a single write, moved the shard 2 days ahead for good: every token was
 * forgotten and every correct router's token refused for 2 days; a leader 5 minutes behind froze
 * the shard's clock, and 60 s later every correct token was refused as ahead.
 *
 * Each node already asks every member its probe every ~10 s (peer-features.ts); the reply says
 * the member's wall time. A member's clock now is estimated as that reading plus the monotonic
 * time since the middle of the round trip (a monotonic clock does not step), so a reading stays
 * good between asks. The stamp is the median over the voters with a reading of at most
 * `sampleMaxAgeMs` and this node's own clock, when they are a majority of the voters; for an
 * even count (a voter down, or on a build without readings), this node's clock kept within the
 * middle pair, so with two clocks its own, as before (the lower of two let one follower behind
 * freeze the shard; a review); else this node's clock alone. So one wrong clock among three
 * voters, or two among five, no longer moves the shard while all answer; with one down, a wrong
 * leader's clock still does among three (two clocks cannot tell which is wrong).
 *
 * Not covered: every voter's clock stepped together (one host, `seqdb dev`), and a single node.
 */
import type { NodeId } from '../raft/types.ts';

interface Reading {
  /** The member's wall clock, as it said (ms since the epoch). */
  readonly wallMs: number;
  /** This node's monotonic time at the middle of the round trip that carried it. */
  readonly atMonoMs: number;
}

export interface PeerClocksOptions {
  readonly selfId: NodeId;
  /** A reading older than this is not used. Default 60,000 ms (members are asked every ~10 s). */
  readonly sampleMaxAgeMs?: number;
  /** Round trips longer than this say too little of when the reading was taken. Default 1,000 ms. */
  readonly roundTripMaxMs?: number;
  /** This node's wall clock (tests). Default Date.now. */
  readonly wallMs?: () => number;
  /** This node's monotonic clock (tests). Default performance.now. */
  readonly monoMs?: () => number;
}

export class PeerClocks {
  private readonly readings = new Map<NodeId, Reading>();
  private readonly sampleMaxAgeMs: number;
  private readonly roundTripMaxMs: number;
  private readonly wallMs: () => number;
  private readonly monoMs: () => number;
  private estimates = new Float64Array(8);

  constructor(private readonly o: PeerClocksOptions) {
    this.sampleMaxAgeMs = o.sampleMaxAgeMs ?? 60_000;
    this.roundTripMaxMs = o.roundTripMaxMs ?? 1_000;
    this.wallMs = o.wallMs ?? Date.now;
    this.monoMs = o.monoMs ?? (() => performance.now());
  }

  /** The monotonic time to pass to `read` once the answer to a request sent now arrives. */
  sent(): number {
    return this.monoMs();
  }

  /** A member's wall clock `wallMs`, from the answer to a request sent at `sentMonoMs` (sent()). */
  read(id: NodeId, wallMs: unknown, sentMonoMs: number): void {
    if (typeof wallMs !== 'number' || !Number.isSafeInteger(wallMs) || wallMs < 0 || id === this.o.selfId) return;
    const now = this.monoMs();
    if (now - sentMonoMs > this.roundTripMaxMs) return;
    if (this.readings.size >= READINGS_MAX && !this.readings.has(id)) this.readings.clear();
    this.readings.set(id, { wallMs, atMonoMs: (sentMonoMs + now) / 2 });
  }

  /** The time to stamp on a write: the voters' median clock (see above). */
  stampMs(voters: readonly NodeId[]): number {
    const own = this.wallMs();
    if (voters.length < 2) return own;
    const now = this.monoMs();
    // Asked for every proposed write: a reused scratch array and an insertion sort of a handful
    // of clocks, where an array and Array#sort's work copy were ~0.7 KB of garbage per INC.
    if (this.estimates.length < voters.length + 1) this.estimates = new Float64Array(voters.length + 1);
    const estimates = this.estimates;
    estimates[0] = own;
    let n = 1;
    for (const id of voters) {
      if (id === this.o.selfId) continue;
      const r = this.readings.get(id);
      if (r === undefined || now - r.atMonoMs > this.sampleMaxAgeMs) continue;
      insertSorted(estimates, n++, Math.round(r.wallMs + (now - r.atMonoMs)));
    }
    if (n <= voters.length / 2) return own;
    const lower = estimates[Math.floor((n - 1) / 2)]!;
    if (n % 2 === 1) return lower;
    // An even count has no middle: this node's own clock, kept within the middle pair (with two
    // clocks, its own, as before: the lower of two let one follower behind freeze the shard).
    const upper = estimates[n / 2]!;
    return Math.min(Math.max(own, lower), upper);
  }

  /** How far this node's clock is from the voters' median (ms; positive: ahead), for INFO. */
  offsetMs(voters: readonly NodeId[]): number {
    return this.wallMs() - this.stampMs(voters);
  }
}

/** Puts `v` into the sorted `a[0..n)`, making `a[0..n]` sorted. */
function insertSorted(a: Float64Array, n: number, v: number): void {
  let i = n;
  for (; i > 0 && a[i - 1]! > v; i--) a[i] = a[i - 1]!;
  a[i] = v;
}

/** Members a node keeps readings of: a shard has a handful; this bounds a flood of node ids. */
const READINGS_MAX = 256;
