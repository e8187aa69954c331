/**
 * Linearizable GETs through ReadIndex (§6.4), batched: all GETs queued since the last round ride
 * one readIndex() call (one heartbeat quorum). A round's ReadState says "serve once applied >=
 * index"; rounds lost with leadership are answered NOT_LEADER (a read is always safe to retry).
 *
 * A GET reads the state at a point between what was proposed before it arrived (`minIndex`, so
 * it sees a write pipelined before it) and the leader's last index when it arrived (`boundIndex`),
 * so it never sees a write that arrived after it, such as the next INC pipelined on the same
 * connection (Redis runs a connection's commands in order). Served while applied <= boundIndex,
 * it reads the current state; otherwise it took its value in the apply transaction just before
 * entry boundIndex + 1 (`capture`). Both points hold everything committed when it arrived
 * (commit <= last index), which is what linearizability asks once the round confirms leadership.
 */
import { RaftError, RaftErrorCode, type ReadState } from '../raft/types.ts';
import { errorResult, type CommandResult, type GetCommand } from '../state-machine/index.ts';
import { ErrorCode } from '../../shared/errors.ts';

interface Reader {
  readonly command: GetCommand;
  readonly deadlineMs: number;
  /** The last index proposed when the read arrived: a GET pipelined behind an INC on the same
   * connection must see it (read-your-writes), though ReadIndex alone only covers what was committed. */
  readonly minIndex: number;
  /** The leader's last index when the read arrived: the latest state it may see. */
  readonly boundIndex: number;
  readonly resolve: (r: CommandResult) => void;
  /** Its value at boundIndex, taken by `capture` once the state moved past that. */
  captured?: CommandResult;
  done: boolean;
}

export class ReadQueue {
  private queued: Reader[] = [];
  private readonly rounds = new Map<string, Reader[]>();
  private ready: { index: number; readers: Reader[] }[] = [];
  /** Readers whose value is not captured yet, in arrival order (so by boundIndex). */
  private uncaptured: Reader[] = [];
  private uncapturedHead = 0;
  private seq = 0;

  constructor(private readonly timeoutMs: number, private readonly maxQueued: number) {}

  get size(): number {
    return this.queued.length + this.rounds.size + this.ready.length;
  }

  /** False when full. */
  add(command: GetCommand, nowMs: number, minIndex: number, boundIndex: number, resolve: (r: CommandResult) => void): boolean {
    if (this.queued.length >= this.maxQueued) return false;
    const reader: Reader = { command, deadlineMs: nowMs + this.timeoutMs, minIndex, boundIndex, done: false, resolve: (r) => {
      reader.done = true;
      resolve(r);
    } };
    this.queued.push(reader);
    this.trimUncaptured();
    this.uncaptured.push(reader);
    return true;
  }

  /**
   * In the apply transaction, before the entry at `index`: readers whose bound is below it take
   * their value from the state as it is now (after entry index - 1, their bound at the latest).
   */
  capture(index: number, read: (command: GetCommand) => CommandResult): void {
    const list = this.uncaptured;
    let head = this.uncapturedHead;
    while (head < list.length && list[head]!.boundIndex < index) {
      const reader = list[head++]!;
      if (!reader.done) reader.captured = read(reader.command);
    }
    this.uncapturedHead = head;
    this.trimUncaptured();
  }

  /**
   * Drops answered readers from the front (a read-only load applies no entries, so `capture`
   * alone would never drop them). What stays is bounded by the readers of the last `timeoutMs`:
   * an unanswered one at the front expires by then. Bounds only grow within a term, and a term
   * change fails every pending read (raft-node.ts), so the list stays ordered by bound.
   */
  private trimUncaptured(): void {
    const list = this.uncaptured;
    let head = this.uncapturedHead;
    while (head < list.length && list[head]!.done) head++;
    if (head === list.length) {
      this.uncaptured = [];
      this.uncapturedHead = 0;
    } else if (head >= 64 && head * 2 >= list.length) {
      this.uncaptured = list.slice(head);
      this.uncapturedHead = 0;
    } else {
      this.uncapturedHead = head;
    }
  }

  /** Readers not yet dropped from the capture list (for tests: it must stay bounded). */
  get trackedForCapture(): number {
    return this.uncaptured.length - this.uncapturedHead;
  }

  /** Starts a round for everything queued. NOT_READY keeps them queued (retried next tick). */
  issue(readIndex: (ctx: string) => void, notLeader: () => CommandResult): void {
    if (this.queued.length === 0) return;
    const ctx = `r${++this.seq}`;
    try {
      readIndex(ctx);
    } catch (err) {
      if (err instanceof RaftError && err.code === RaftErrorCode.NOT_READY) return;
      // Too many rounds unconfirmed: this node still leads, so NOTLEADER would name itself.
      const full = err instanceof RaftError && err.code === RaftErrorCode.READS_FULL;
      this.failQueued(full ? errorResult(ErrorCode.BUSY, 'too many reads awaiting confirmation') : notLeader());
      return;
    }
    this.rounds.set(ctx, this.queued);
    this.queued = [];
  }

  onReadStates(states: readonly ReadState[]): void {
    for (const rs of states) {
      const readers = this.rounds.get(rs.context);
      if (!readers) continue;
      this.rounds.delete(rs.context);
      const index = readers.reduce((max, r) => Math.max(max, r.minIndex), rs.index);
      this.ready.push({ index, readers });
    }
  }

  /** Serves every round whose index is applied; `serve` reads the committed state. */
  serve(applied: number, serve: (cmds: readonly GetCommand[]) => CommandResult[]): void {
    const due = this.ready.filter((r) => r.index <= applied);
    if (due.length === 0) return;
    this.ready = this.ready.filter((r) => r.index > applied);
    const readers = due.flatMap((r) => r.readers);
    const current = readers.filter((r) => r.captured === undefined);
    const results = current.length === 0 ? [] : serve(current.map((r) => r.command));
    let next = 0;
    for (const r of readers) r.resolve(r.captured ?? results[next++]!);
  }

  /** Leadership lost: no pending round can be trusted any more. */
  failAll(result: CommandResult): void {
    this.failQueued(result);
    for (const readers of this.rounds.values()) for (const r of readers) r.resolve(result);
    this.rounds.clear();
    for (const { readers } of this.ready) for (const r of readers) r.resolve(result);
    this.ready = [];
    this.uncaptured = [];
    this.uncapturedHead = 0;
  }

  expire(nowMs: number, result: CommandResult): void {
    const keep = (list: Reader[]): Reader[] => {
      const out: Reader[] = [];
      for (const r of list) (r.deadlineMs > nowMs ? out.push(r) : r.resolve(result));
      return out;
    };
    this.queued = keep(this.queued);
    for (const [ctx, readers] of this.rounds) {
      const left = keep(readers);
      if (left.length === 0) this.rounds.delete(ctx);
      else this.rounds.set(ctx, left);
    }
    // A confirmed round can still wait for an index that never comes (a write cut with the tail).
    this.ready = this.ready.map((r) => ({ index: r.index, readers: keep(r.readers) })).filter((r) => r.readers.length > 0);
    this.trimUncaptured();
  }

  private failQueued(result: CommandResult): void {
    for (const r of this.queued) r.resolve(result);
    this.queued = [];
  }
}
