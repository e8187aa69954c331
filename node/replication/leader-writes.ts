/**
 * A leader's log writes in the background (raft-node.ts): the Ready loop sends a leader's
 * entries to the followers, hands them to the log and goes on, without waiting for its own
 * fsync. The entries commit once a quorum has them on disk, which with three nodes is the two
 * followers: the leader's own copy counts only when its write is done (RawNode.appended). That
 * takes the leader's fsync off the path of every INC; its followers' fsyncs remain.
 *
 * Writes finish in the order they were started (the log's queued writes run in order, wal.ts),
 * and at most `writesMax` are in flight: the loop waits for the oldest beyond that.
 */
import type { Entry, HardState, Ready, RaftStatus } from '../raft/types.ts';

/** What a leader sends that needs only its term on disk, not its entries (§10.2.1). */
export const LEADER_MESSAGES: ReadonlySet<string> = new Set(['app', 'heartbeat', 'snap', 'timeoutNow']);

/**
 * A leader's Ready whose term and vote are on disk (`durable`) and that sends only leader
 * messages: its entries may be written in the background. Anything else waits for the writes in
 * flight and persists before it acts.
 */
export function writesInBackground(role: RaftStatus['role'], rd: Ready, durable: HardState): boolean {
  if (role !== 'leader' || rd.snapshot) return false;
  if (rd.hardState && (rd.hardState.term !== durable.term || rd.hardState.vote !== durable.vote)) return false;
  return rd.messages.every((m) => LEADER_MESSAGES.has(m.type));
}

/** Leader log writes in flight before the Ready loop waits for the oldest. */
export const LEADER_WRITES_MAX = 8;

export class LeaderWrites {
  private readonly inFlight: Promise<void>[] = [];

  constructor(
    /** Starts the durable write of `entries`. */
    private readonly write: (entries: readonly Entry[]) => Promise<void>,
    /** The entries through (index, term) are on disk: tell the core. */
    private readonly onWritten: (index: number, term: number) => void,
    private readonly onFailed: (err: Error) => void,
    private readonly writesMax = LEADER_WRITES_MAX,
  ) {}

  /** Starts writing `entries`; waits for the oldest write if too many are in flight. */
  async add(entries: readonly Entry[]): Promise<void> {
    const last = entries[entries.length - 1]!;
    const done = this.write(entries).then(
      () => {
        this.inFlight.shift();
        this.onWritten(last.index, last.term);
      },
      (err: Error) => {
        this.inFlight.shift();
        this.onFailed(err);
      },
    );
    this.inFlight.push(done);
    if (this.inFlight.length > this.writesMax) await this.inFlight[0];
  }

  /** Resolves once every write handed over so far is done (before a Ready that must be durable first). */
  async drain(): Promise<void> {
    while (this.inFlight.length > 0) await this.inFlight[this.inFlight.length - 1];
  }
}
