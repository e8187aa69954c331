/**
 * Linearizable GETs through ReadIndex (§6.4), batched: all GETs queued since the last round ride
 * one readIndex() call (one heartbeat quorum). A round's ReadState says "serve once applied >=
 * index"; rounds lost with leadership are answered NOT_LEADER (a read is always safe to retry).
 */
import { RaftError, RaftErrorCode, type ReadState } from '../raft/types.ts';
import type { CommandResult, GetCommand } from '../state-machine/index.ts';

interface Reader {
  readonly command: GetCommand;
  readonly deadlineMs: number;
  /** The last index proposed when the read arrived: a GET pipelined behind an INC on the same
   * connection must see it (read-your-writes), though ReadIndex alone only covers what was committed. */
  readonly minIndex: number;
  readonly resolve: (r: CommandResult) => void;
}

export class ReadQueue {
  private queued: Reader[] = [];
  private readonly rounds = new Map<string, Reader[]>();
  private ready: { index: number; readers: Reader[] }[] = [];
  private seq = 0;

  constructor(private readonly timeoutMs: number, private readonly maxQueued: number) {}

  get size(): number {
    return this.queued.length + this.rounds.size + this.ready.length;
  }

  /** False when full. */
  add(command: GetCommand, nowMs: number, minIndex: number, resolve: (r: CommandResult) => void): boolean {
    if (this.queued.length >= this.maxQueued) return false;
    this.queued.push({ command, deadlineMs: nowMs + this.timeoutMs, minIndex, resolve });
    return true;
  }

  /** Starts a round for everything queued. NOT_READY keeps them queued (retried next tick). */
  issue(readIndex: (ctx: string) => void, notLeader: () => CommandResult): void {
    if (this.queued.length === 0) return;
    const ctx = `r${++this.seq}`;
    try {
      readIndex(ctx);
    } catch (err) {
      if (err instanceof RaftError && err.code === RaftErrorCode.NOT_READY) return;
      this.failQueued(notLeader());
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
    const results = serve(readers.map((r) => r.command));
    readers.forEach((r, i) => r.resolve(results[i]!));
  }

  /** Leadership lost: no pending round can be trusted any more. */
  failAll(result: CommandResult): void {
    this.failQueued(result);
    for (const readers of this.rounds.values()) for (const r of readers) r.resolve(result);
    this.rounds.clear();
    for (const { readers } of this.ready) for (const r of readers) r.resolve(result);
    this.ready = [];
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
  }

  private failQueued(result: CommandResult): void {
    for (const r of this.queued) r.resolve(result);
    this.queued = [];
  }
}
