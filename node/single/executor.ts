/**
 * Single-node executor with group commit. Commands are queued in arrival order; whenever the
 * writer is idle, everything queued (up to `batchMax`) is applied in order inside ONE LMDB write
 * transaction, and every result is released only after that transaction is fsynced. Commands
 * arriving during a flush form the next batch, so one fsync serves many clients.
 *
 * Because every command goes through this one writer in order, work on a bucket is serialized
 * (the bucket lock), and a GET placed after a write in the queue observes it. A GET is only
 * answered once the batch it ran in is durable, so no reply ever shows a value that a crash
 * could take back.
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import {
  errorResult,
  isWrite,
  read,
  type Command,
  type CommandResult,
  type LmdbStore,
  type StateMachine,
} from '../state-machine/index.ts';
import type { Engine } from '../server/engine.ts';
import { growsState, noSpaceMessage, type DiskGuard } from '../disk/disk-guard.ts';
import { TOKEN_OPTIONS_REFUSED, isTokenOptions, tokenRules } from '../state-machine/token-options.ts';

export interface ExecutorOptions {
  /** Commands waiting for the writer beyond which new ones get BUSY. Default 100,000. */
  readonly queueMax?: number;
  /** Commands applied per transaction. Default 4,096. */
  readonly batchMax?: number;
  /** Wall clock stamped on each command as its proposal time. Default Date.now. */
  readonly nowMs?: () => number;
  /** Free space of the data dir: writes get NOSPACE while it is low. Default: none (writes until a commit fails). */
  readonly disk?: DiskGuard;
}

/** What one write may add to the LMDB file at most (a copied page), for the disk guard's count. */
const SINGLE_WRITE_BYTES_MAX = 4096;
/** A transaction's own pages (branch pages, meta) on top of its writes' leaves. */
const BATCH_OVERHEAD_BYTES = 64 * 1024;

interface Pending {
  readonly command: Command;
  readonly timeMs: number;
  readonly resolve: (result: CommandResult) => void;
}

export class SingleExecutor implements Engine {
  private readonly queue: Pending[] = [];
  private running = false;
  private closing = false;
  private failure: SeqError | undefined;
  private idle: (() => void) | undefined;
  private closeOnce: Promise<void> | undefined;
  private readonly queueMax: number;
  private readonly batchMax: number;
  private readonly nowMs: () => number;

  constructor(
    private readonly store: LmdbStore,
    private readonly machine: StateMachine,
    private readonly options: ExecutorOptions = {},
  ) {
    this.queueMax = options.queueMax ?? 100_000;
    this.batchMax = options.batchMax ?? 4096;
    this.nowMs = options.nowMs ?? Date.now;
  }

  execute(command: Command): Promise<CommandResult> {
    const refusal = this.refusal();
    if (refusal !== undefined) return Promise.resolve(refusal);
    if (isTokenOptions(command)) return Promise.resolve(TOKEN_OPTIONS_REFUSED);
    const disk = this.options.disk;
    // An early refusal once the disk is near its reserve (a page per write counted); what bounds a
    // burst queued behind the writer is the check of each transaction (refusedForDisk).
    if (disk !== undefined && growsState(command) && !disk.admits(SINGLE_WRITE_BYTES_MAX)) return Promise.resolve(errorResult(ErrorCode.NO_SPACE, noSpaceMessage(disk)));
    return new Promise((resolve) => {
      this.queue.push({ command, timeMs: this.nowMs(), resolve });
      if (!this.running) void this.drain();
    });
  }

  info(): Record<string, string | number> {
    // After a failed meta-page write LMDB refuses every transaction, reads included (MDB_PANIC):
    // INFO must still say why the node refuses everything.
    let summary: { sequences: number | string; tokens: number | string };
    let rules: number | string;
    try {
      summary = this.store.summary();
      rules = this.store.read((kv) => tokenRules(kv, this.machine.options));
    } catch (err) {
      this.failure ??= new SeqError(ErrorCode.STORAGE, `storage failed: ${(err as Error).message}`);
      summary = { sequences: '?', tokens: '?' };
      rules = '?';
    }
    // storage_failed: 1 once a commit failed: every command is refused until a restart, which
    // reopens the store from what is on disk (for a supervisor or an operator to act on).
    const { tokenRetentionMs, tokensMax } = this.machine.options;
    return { role: 'standalone', sequences: summary.sequences, tokens: summary.tokens, token_rules: rules, token_retention_ms: tokenRetentionMs, tokens_max: tokensMax, storage_failed: this.failure === undefined ? 0 : 1, ...this.options.disk?.info() };
  }

  /** Refuses new commands, waits for queued ones to be durable, closes LMDB. */
  close(): Promise<void> {
    this.closeOnce ??= (async () => {
      this.closing = true;
      if (this.running) await new Promise<void>((resolve) => (this.idle = resolve));
      await this.store.close();
    })();
    return this.closeOnce;
  }

  private refusal(): CommandResult | undefined {
    if (this.failure !== undefined) return errorResult(this.failure.code, this.failure.message);
    if (this.closing) return errorResult(ErrorCode.SHUTTING_DOWN, 'server is shutting down');
    if (this.queue.length >= this.queueMax) return errorResult(ErrorCode.BUSY, 'too many pending commands');
    return undefined;
  }

  /**
   * The writes of a batch beyond what the disk holds above its reserve, read fresh before each
   * transaction (one statfs per fsync'ed commit), each write counted as a page: refused NOSPACE,
   * nothing taken. A check when a command arrives alone let a pipelined burst, queued behind the
   * writer, fill the disk (a review). Null when all fit.
   */
  private refusedForDisk(batch: readonly Pending[]): (CommandResult | undefined)[] | null {
    const disk = this.options.disk;
    if (disk === undefined) return null;
    let room = Math.floor((disk.freeBytesNow() - disk.reserveBytes - BATCH_OVERHEAD_BYTES) / SINGLE_WRITE_BYTES_MAX);
    if (room >= batch.length) return null;
    const refusal = errorResult(ErrorCode.NO_SPACE, noSpaceMessage(disk));
    return batch.map((p) => (growsState(p.command) && room-- <= 0 ? refusal : undefined));
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.batchMax);
        const results = await this.runBatch(batch);
        batch.forEach((pending, i) => pending.resolve(results[i]!));
      }
    } finally {
      this.running = false;
      this.idle?.();
    }
  }

  private async runBatch(batch: readonly Pending[]): Promise<CommandResult[]> {
    if (this.failure !== undefined) return batch.map(() => this.refusal()!);
    try {
      if (!batch.some((p) => isWrite(p.command))) {
        return this.store.read((kv) => batch.map((p) => read(kv, p.command as Extract<Command, { type: 'get' }>)));
      }
      const refused = this.refusedForDisk(batch);
      return await this.store.write((txn) => batch.map((p, i) => refused?.[i] ?? this.machine.apply(txn, p.command, p.timeMs)));
    } catch (error) {
      // Never acknowledge after a failed commit: from now on every command gets STORAGE.
      this.failure = new SeqError(ErrorCode.STORAGE, `storage failed: ${(error as Error).message}`);
      return batch.map(() => errorResult(this.failure!.code, this.failure!.message));
    }
  }
}
