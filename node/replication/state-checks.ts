/**
 * Cross-replica checks of the state machine: every replica that applies log index i (a multiple
 * of `stateCheckEntries`) computes a CRC-32 of its whole state as of i, and the replicas compare
 * theirs through the probe replies they already exchange every second. The state is a function
 * of the log, so replicas of one build hold the same bytes at the same index: a difference is a
 * state that changed outside the log (a page of the state LMDB rotted on disk or in memory, a
 * byte written by something else) or a replica that applied something else. The log, its
 * frames and the snapshot images carry checksums of their own; the state LMDB does not, and a
 * leader reading a damaged sequence value would hand out a number again or skip some.
 *
 * What it does on a difference: logs it at error level (once per index and peer), counts it
 * (INFO `state_check_mismatches`, `seqdb_state_check_mismatches_total`), and when the voters that
 * agree with each other and not with this node make a majority of the voters, this node's state
 * is the damaged one: INFO `state_damaged:<index>`, and `onDamaged` (the node hands its
 * leadership over). It does not repair: the state is rebuilt from the snapshot and log by
 * restarting the node after deleting its `lmdb` directory (README, Durability).
 *
 * A build that changes what the state holds after the same log (a new meta key, another value
 * layout) must rename the probes' `stateChecks` field: replicas of the two builds would otherwise
 * call each other damaged during a rolling upgrade.
 *
 * The digest streams the state's snapshot image (LmdbStore.exportSnapshot, one read transaction
 * opened right after the checkpoint's own apply transaction, so pinned at i) one SLICE_BYTES
 * chunk per event-loop turn (~1-2 ms each; 256 KiB slices held a loop up to ~8 ms, and every
 * replica digests at the same index, so a 1-client INC met one at p99); one at a time (a
 * checkpoint reached while one runs is skipped).
 */
import { crc32 } from 'node:zlib';
import { monoNowMs } from '../../shared/mono-clock.ts';
import type { NodeId } from '../raft/types.ts';
import type { LmdbStore } from '../state-machine/index.ts';
import { SLICE_BYTES } from '../state-machine/snapshot.ts';

/** This node's latest digests kept and announced (oldest dropped first). */
const CHECKS_KEPT = 16;
/** Peers' digests kept per peer; differences remembered (each logged once). */
const MISMATCHES_KEPT = 64;
/** A comparison that agreed is logged at most this often (the first one always). */
const AGREED_LOG_INTERVAL_MS = 600_000;
/**
 * A checkpoint is skipped unless this many times the last digest's duration passed since it
 * ended: a large state on a busy shard (1M sequences: ~2M entries to read) costs at most ~5% of
 * the time. Replicas skip alike when alike; a skipped index is only a comparison fewer.
 */
const IDLE_PER_BUSY = 20;

/** [index, crc32] pairs, newest last: what a probe reply carries as `stateChecks`. */
export type StateCheckList = readonly (readonly [number, number])[];

export interface StateChecksDeps {
  readonly store: LmdbStore;
  readonly log: (line: string) => void;
  /** The shard's voters now (a majority of them decides which state is the damaged one). */
  readonly voters: () => readonly NodeId[];
  readonly selfId: NodeId;
  /** This node's state differs from a majority of the voters' at `index`. */
  readonly onDamaged?: (index: number) => void;
}

export class StateChecks {
  private readonly mine = new Map<number, number>();
  private readonly theirs = new Map<NodeId, Map<number, number>>();
  private readonly mismatchSeen = new Set<string>();
  /** The digest under way (its read transaction open until it ends or is returned). */
  private current: Generator<Buffer> | null = null;
  private stopped = false;
  /** Comparisons with a peer's digest of an index: agreed, differed. */
  private agreed = 0;
  private mismatches = 0;
  /** The index at which a majority of the voters agreed on another state than this node's. */
  private damagedAt: number | null = null;
  private agreedLoggedMs = Number.NEGATIVE_INFINITY;
  /** When the last digest ended and how long it took (the cost cap). */
  private lastEndMs = Number.NEGATIVE_INFINITY;
  private lastTookMs = 0;

  constructor(private readonly d: StateChecksDeps) {}

  /**
   * The apply transaction that ends at `index` has just committed: digest the state as of it.
   * Must be called before the next apply transaction commits (it pins a read transaction now).
   */
  checkpoint(index: number): void {
    if (this.current !== null || this.stopped) return;
    if (monoNowMs() - this.lastEndMs < IDLE_PER_BUSY * this.lastTookMs) return;
    const startMs = monoNowMs();
    const chunks = this.d.store.exportSnapshot(SLICE_BYTES, true);
    let crc = 0;
    let first: IteratorResult<Buffer>;
    try {
      first = chunks.next(); // opens the read transaction: the state as of `index`
    } catch (err) {
      this.d.log(`state check at ${index}: reading the state failed: ${(err as Error).message}`);
      return;
    }
    if (first.done === true) return this.finish(index, crc, startMs);
    crc = crc32(first.value, crc);
    this.current = chunks;
    const step = (): void => {
      if (this.current !== chunks) return; // stopped
      try {
        const next = chunks.next();
        if (next.done === true) return this.finish(index, crc, startMs);
        crc = crc32(next.value, crc);
        setImmediate(step);
      } catch (err) {
        this.current = null;
        this.d.log(`state check at ${index}: reading the state failed: ${(err as Error).message}`);
      }
    };
    setImmediate(step);
  }

  private finish(index: number, crc: number, startMs: number): void {
    this.current = null;
    this.lastEndMs = monoNowMs();
    this.lastTookMs = this.lastEndMs - startMs;
    this.mine.set(index, crc);
    while (this.mine.size > CHECKS_KEPT) this.mine.delete(this.mine.keys().next().value!);
    for (const [peer, checks] of this.theirs) {
      const other = checks.get(index);
      if (other !== undefined) this.compare(peer, index, other);
    }
  }

  /**
   * What this node announces on its probes: the digests and a CRC-32 of them. Control requests
   * carry no checksum of their own, and a digit changed on the way would read as a damaged state
   * (the chaos runs' wire-flip fault would have made one).
   */
  announce(): { readonly stateChecks: StateCheckList; readonly stateChecksCrc: number } {
    const list = [...this.mine];
    return { stateChecks: list, stateChecksCrc: crc32(JSON.stringify(list)) };
  }

  /**
   * A peer's probe said these digests (a probe object's `stateChecks` and `stateChecksCrc`).
   * Anything malformed or not matching its CRC is ignored; older builds say nothing.
   */
  heard(peer: NodeId, said: { readonly stateChecks?: unknown; readonly stateChecksCrc?: unknown }): void {
    const list = said.stateChecks;
    if (!Array.isArray(list) || peer === this.d.selfId || said.stateChecksCrc !== crc32(JSON.stringify(list))) return;
    let checks = this.theirs.get(peer);
    for (const item of list.slice(-CHECKS_KEPT)) {
      if (!Array.isArray(item) || !Number.isSafeInteger(item[0]) || !Number.isInteger(item[1]) || item[0] <= 0) continue;
      const [index, crc] = item as [number, number];
      if (checks === undefined) {
        const voters = this.d.voters();
        if (!voters.includes(peer)) return; // a bound: only voters' word is kept
        // Ids removed from the voters since go (replaced nodes would otherwise pile up).
        for (const id of this.theirs.keys()) if (!voters.includes(id)) this.theirs.delete(id);
        this.theirs.set(peer, (checks = new Map()));
      }
      if (checks.get(index) === crc) continue;
      checks.set(index, crc);
      while (checks.size > CHECKS_KEPT) checks.delete(checks.keys().next().value!);
      const own = this.mine.get(index);
      if (own !== undefined) this.compare(peer, index, crc);
    }
  }

  private compare(peer: NodeId, index: number, crc: number): void {
    const own = this.mine.get(index)!;
    if (own === crc) {
      this.agreed++;
      if (monoNowMs() - this.agreedLoggedMs >= AGREED_LOG_INTERVAL_MS) {
        this.agreedLoggedMs = monoNowMs();
        this.d.log(`state check: the state at index ${index} is the same as node ${peer}'s (crc ${hex(own)}; ${this.agreed} agreeing comparisons so far, ${this.mismatches} differing)`);
      }
    } else {
      const key = `${index} ${peer}`;
      if (this.mismatchSeen.has(key)) return;
      this.mismatchSeen.add(key);
      if (this.mismatchSeen.size > MISMATCHES_KEPT) this.mismatchSeen.delete(this.mismatchSeen.values().next().value!);
      this.mismatches++;
      this.d.log(`state check failed: the state at index ${index} differs from node ${peer}'s (crc ${hex(own)} here, ${hex(crc)} there)`);
    }
    this.judge(index);
  }

  /** Damaged here if a majority of the voters agree on one digest of `index` that is not ours. */
  private judge(index: number): void {
    const own = this.mine.get(index);
    const voters = this.d.voters();
    if (own === undefined || this.damagedAt !== null && this.damagedAt >= index) return;
    const counts = new Map<number, number>();
    for (const v of voters) {
      const crc = v === this.d.selfId ? own : this.theirs.get(v)?.get(index);
      if (crc !== undefined) counts.set(crc, (counts.get(crc) ?? 0) + 1);
    }
    const majority = Math.floor(voters.length / 2) + 1;
    for (const [crc, n] of counts) {
      if (crc !== own && n >= majority) {
        this.damagedAt = index;
        this.d.log(`state check failed: this node's state at index ${index} differs from the one a majority of the voters hold: it is damaged; rebuild it (stop the node, delete its lmdb directory, start it)`);
        this.d.onDamaged?.(index);
        return;
      }
    }
  }

  /** Whether a majority of the voters found this node's state damaged. */
  damaged(): boolean {
    return this.damagedAt !== null;
  }

  counts(): { readonly agreed: number; readonly mismatches: number } {
    return { agreed: this.agreed, mismatches: this.mismatches };
  }

  info(): Record<string, string | number> {
    const last = [...this.mine.keys()].pop();
    return {
      state_check_last_index: last ?? 0,
      state_checks_agreed: this.agreed,
      state_check_mismatches: this.mismatches,
      state_damaged: this.damagedAt ?? 0,
      // Voters whose digests this node holds (those of ids no longer voters are dropped).
      state_check_peers: this.theirs.size,
    };
  }

  /** Ends a digest under way (its read transaction) and takes no more: before the store closes. */
  stop(): void {
    this.stopped = true;
    const chunks = this.current;
    this.current = null;
    chunks?.return(undefined);
  }
}

function hex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}
