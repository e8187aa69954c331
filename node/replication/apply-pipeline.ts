/**
 * Applies committed entries to the state machine for the Ready loop (raft-node.ts), one
 * state-machine transaction per call that also stores the applied index, without making the loop
 * wait for that transaction's commit: the next Ready persists and sends while it commits.
 *
 * Two indexes: `started` (handed to the state machine, results computed) and `applied` (its
 * commit is done: reads and snapshots may rely on it). INC and SET results are released at
 * `started`: their entries are committed (durable on a majority), so a crash before the state
 * commit re-applies them from the log with the same results. Other results (cluster and series
 * commands, whose callers may read local state next) are released at `applied`.
 */
import { EntryType, type Entry } from '../raft/types.ts';
import { setAppliedIndex, type KvTxn, type LmdbStore, type StateMachine } from '../state-machine/index.ts';
import { BATCH_FORMAT, decodeEntryCommands } from '../state-machine/batch-codec.ts';
import type { Members } from './members.ts';
import type { EntryResult } from './write-batch.ts';

/**
 * Splits a Ready's committed entries into those already durable in our own log before this
 * Ready's write (`durableLast`), which may be applied while that write runs, and the rest, which
 * wait for it (a follower's entries committed in the same Ready that carries them).
 */
export function splitCommitted(committed: readonly Entry[], durableLast: number): [now: readonly Entry[], later: readonly Entry[]] {
  const cut = committed.findIndex((e) => e.index > durableLast);
  return cut < 0 ? [committed, []] : [committed.slice(0, cut), committed.slice(cut)];
}

/** State-machine commits the loop may run ahead of before it waits for the oldest. */
const APPLIES_IN_FLIGHT_MAX = 4;
/** Entries `hold` keeps back at most before it applies them (a bound, not a tuning knob). */
const HELD_ENTRIES_MAX = 64;
/** Entry bytes `hold` keeps back at most (each held entry stays in memory until applied). */
const HELD_BYTES_MAX = 4 << 20;
/** What a log entry costs besides its data (index, term, type, key): for the snapshot rule. */
const ENTRY_OVERHEAD_BYTES = 24;

export interface ApplyDeps {
  readonly store: LmdbStore;
  readonly machine: StateMachine;
  readonly members: Members;
  /** The entry at (index, term) has this result. */
  readonly onResult: (index: number, term: number, result: EntryResult) => void;
  /** `applied` moved: serve reads. */
  readonly onDurable: () => void;
  /** Called in the apply transaction before the entry at `index` is applied (reads capture state there). */
  readonly beforeEntry?: (index: number, txn: KvTxn) => void;
  /** The state-machine commit failed: the node must stop. */
  readonly onFatal: (err: Error) => void;
  /**
   * Entries whose index is a multiple of this end their apply transaction, and `onCheckpoint`
   * hears of it right after that transaction committed, before the next one (state-checks.ts).
   * 0 or absent: never. Only a state committed in place (no fsync) has checkpoints.
   */
  readonly checkpointEvery?: number;
  readonly onCheckpoint?: (index: number) => void;
}

export class ApplyPipeline {
  /** Applied and committed in the state machine. */
  applied: number;
  /** Handed to the state machine (its commit may still be in flight). */
  private started: number;
  /** The newest commit in flight; LMDB commits in order, so it settles last. */
  private newest: Promise<void> = Promise.resolve();
  /** The last state commit handed out (in place: each runs after the one before it). */
  private committedTail: Promise<void> = Promise.resolve();
  private inFlight = 0;
  /** Bytes of the entries applied since `resetBytes` (the snapshot rule). */
  bytesSinceReset = 0;
  /** Client writes applied since `resetBytes`: a batch entry counts its parts (the snapshot rule). */
  writesSinceReset = 0;
  /** Committed entries `hold` keeps back, in order, all after `started`. */
  private held: Entry[] = [];
  private heldBytes = 0;
  private holdTimer: NodeJS.Timeout | null = null;

  constructor(private readonly d: ApplyDeps) {
    this.applied = d.store.appliedIndex();
    this.started = this.applied;
  }

  /** Applies what `hold` kept back; resolves once every commit handed out so far is done (before snapshots and stop). */
  drain(): Promise<void> {
    if (this.held.length > 0) this.flushHeld();
    return this.newest;
  }

  /** The state was replaced by a snapshot at `index` (call after `drain`). */
  resetTo(index: number): void {
    this.takeHeld();
    this.applied = index;
    this.started = index;
    this.resetBytes();
  }

  /**
   * The snapshot rule (raft-tuning.ts `snapshotEntries`): enough entries, or writes (one batch
   * entry may carry a thousand INCs), since the snapshot at `snapshotIndex`, carrying at least as
   * many bytes as its image.
   */
  snapshotDue(snapshotIndex: number, entriesMin: number, lastImageBytes: number): boolean {
    const many = this.applied - snapshotIndex >= entriesMin || this.writesSinceReset >= entriesMin;
    return many && this.bytesSinceReset >= lastImageBytes;
  }

  resetBytes(): void {
    this.bytesSinceReset = 0;
    this.writesSinceReset = 0;
  }

  /**
   * Keeps a follower's committed entries back for up to `holdMs` and applies them with the next
   * ones in one transaction. Why: on a loaded box a follower's state transaction per Ready (one
   * entry each at 50 clients) cost far more than its microbenchmark says (cold caches after every
   * wake-up, the per-transaction reads and cursor scans); batching ~10 cut the followers' CPU per
   * INC by ~12% (bench/README.md, sixteenth round). Safe because nothing waits for a
   * follower's state: Raft already allows a follower to apply late, the entries are durable in its
   * log (a crash re-applies them), and every other call (`apply`, `drain`, a new role's first
   * Ready) applies what is held first. Only plain entries are held: a conf change applies at once,
   * with everything held before it. Bounded by HELD_ENTRIES_MAX and HELD_BYTES_MAX.
   */
  async hold(entries: readonly Entry[], holdMs: number): Promise<void> {
    const fresh = entries.filter((e) => e.index > this.heldLast());
    if (fresh.some((e) => e.type !== EntryType.Normal)) return this.apply(fresh);
    for (const e of fresh) {
      this.held.push(e);
      this.heldBytes += e.data.length;
    }
    if (this.held.length >= HELD_ENTRIES_MAX || this.heldBytes >= HELD_BYTES_MAX) return this.apply([]);
    if (this.held.length > 0 && this.holdTimer === null) {
      this.holdTimer = setTimeout(() => {
        this.holdTimer = null;
        this.flushHeld();
      }, holdMs);
    }
  }

  /** Applies what is held, outside any caller that could wait for it (timer, drain). */
  private flushHeld(): void {
    this.apply([]).catch((err: Error) => this.d.onFatal(err));
  }

  private heldLast(): number {
    return this.held.length > 0 ? this.held[this.held.length - 1]!.index : this.started;
  }

  /** Empties `held` (its entries, in order) and stops its timer. */
  private takeHeld(): Entry[] {
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    this.heldBytes = 0;
    return this.held.splice(0);
  }

  /** Applies what is held, then the entries not applied yet; waits only if too many commits are in flight. */
  async apply(entries: readonly Entry[]): Promise<void> {
    const heldLast = this.heldLast();
    const held = this.held.length > 0 ? this.takeHeld() : [];
    const newer = entries.filter((e) => e.index > heldLast);
    const fresh = held.length > 0 ? [...held, ...newer] : newer;
    // Every segment is handed out now, none awaited in between (a review: awaiting let drain()
    // and the next Ready's apply see `newest` before the later segments existed).
    let done: Promise<void> | undefined;
    for (const part of this.segments(fresh)) done = this.startSegment(part);
    if (done !== undefined && this.inFlight >= APPLIES_IN_FLIGHT_MAX) await done;
  }

  /** `fresh` cut after every checkpoint index (one transaction each). */
  private segments(fresh: readonly Entry[]): (readonly Entry[])[] {
    const every = this.checkpointEvery();
    if (fresh.length === 0) return [];
    // The usual case on the hot path: no checkpoint among them, no copy.
    if (every <= 0 || !fresh.some((e) => e.index % every === 0)) return [fresh];
    const out: (readonly Entry[])[] = [];
    let from = 0;
    fresh.forEach((e, i) => {
      if (e.index % every === 0) {
        out.push(fresh.slice(from, i + 1));
        from = i + 1;
      }
    });
    if (from < fresh.length) out.push(fresh.slice(from));
    return out;
  }

  /** Only a state committed in place has checkpoints (ApplyDeps.checkpointEvery). */
  private checkpointEvery(): number {
    return this.d.store.syncs ? 0 : this.d.checkpointEvery ?? 0;
  }

  /** Hands one transaction of `fresh` out; resolves once it committed. */
  private startSegment(fresh: readonly Entry[]): Promise<void> {
    const last = fresh[fresh.length - 1]!.index;
    this.started = last;
    const late: [Entry, EntryResult][] = [];
    let writes = 0;
    const applyAll = (txn: KvTxn): void => {
      for (const e of fresh) {
        this.d.beforeEntry?.(e.index, txn);
        const [result, early] = this.applyEntry(txn, e);
        writes += Array.isArray(result) ? result.length : 1;
        this.d.members.applyEntry(e);
        if (early) this.d.onResult(e.index, e.term, result);
        else late.push([e, result]);
      }
      setAppliedIndex(txn, last);
    };
    const store = this.d.store;
    // A state store without fsync commits in place: no worker-thread round trip per batch.
    const every = this.checkpointEvery();
    const checkpoint = every > 0 && last % every === 0 ? this.d.onCheckpoint : undefined;
    // Each commits after the one handed out before it (a failed one takes none after it along).
    const committed = store.syncs ? store.write(applyAll) : this.committedTail.then(() => {
      store.writeNow(applyAll);
      checkpoint?.(last); // before the next transaction: what it reads is the state as of `last`
    });
    this.committedTail = committed;
    this.inFlight++;
    const done = committed.then(() => {
      this.inFlight--;
      for (const [e, result] of late) this.d.onResult(e.index, e.term, result);
      for (const e of fresh) this.bytesSinceReset += e.data.length + ENTRY_OVERHEAD_BYTES;
      this.writesSinceReset += writes;
      this.applied = Math.max(this.applied, last);
      this.d.onDurable();
    });
    this.newest = done;
    done.catch((err: Error) => this.d.onFatal(err));
    return done;
  }

  /** The entry's result(s), and whether they may be released before the state commit. */
  private applyEntry(txn: KvTxn, e: Entry): [EntryResult, boolean] {
    if (e.type !== EntryType.Normal || e.data.length === 0) return [null, true];
    const commands = decodeEntryCommands(e.data);
    const results = commands.map(({ command, timeMs }) => this.d.machine.apply(txn, command, timeMs));
    const early = commands.every(({ command }) => command.type === 'inc' || command.type === 'incs' || command.type === 'set');
    return [e.data[0] === BATCH_FORMAT ? results : results[0]!, early];
  }
}
