/**
 * Merges concurrent plain INCs of one sequence into one block: the k INCs (no ID, no COUNT) of
 * one sequence that reach the router in one poll phase leave as ONE `INC bucket sequence COUNT k
 * ID <router token>`, and the block's k numbers go back to the k callers in the order their INCs
 * came. The shard then decodes, logs, replicates and applies one command and stores one token
 * record instead of k; each client still gets one number of its own, with no gap and no repeat.
 *
 * Why it keeps what each client sees:
 * - The k INCs were all outstanding at once, so any order among them is a valid linearization;
 *   numbers are handed out in arrival order, so one connection's pipelined INCs still ascend.
 * - Per bucket, commands leave in arrival order: a bucket has at most one open block, and any
 *   other command of that bucket (GET, SET, an INC with ID or of another sequence) first sends
 *   the open block (`closeBucket`). Only commands of other buckets, which go to other shards and
 *   are never ordered against it anyway, can be overtaken.
 * - Retries resend the same block with the same token (exactly-once on the node). If the router
 *   gives up with the outcome unknown, member i is told to retry with the part token
 *   `<token>*<i>/<k>` (node/state-machine/part-token.ts), which takes or finds the whole block and
 *   answers number i.
 * - A block the shard refuses with an ERR (nothing applied: OVERFLOW near the maximum value, an
 *   expired token) is sent again one INC at a time, so each client gets what it would have got
 *   without merging (the numbers left below the maximum still go out).
 */
import { ErrorCode } from '../shared/errors.ts';
import { errorReply } from '../shared/protocol/index.ts';
import { errorResult, intResult, type Command, type CommandResult, type IncCommand } from '../node/state-machine/command.ts';
import { partToken, partValue } from '../node/state-machine/part-token.ts';
import { routerToken } from './token.ts';

/** What forwarding one command ended with. */
export interface Forwarded {
  readonly result: CommandResult;
  /** Set when the router gave up after an attempt that may have applied: the token to retry with. */
  readonly retryToken?: Buffer;
}

export interface CoalescerStats {
  /** Blocks of two or more INCs sent. */
  blocks: number;
  /** INCs that went out inside such blocks. */
  blockIncs: number;
}

export interface CoalescerOptions {
  /** Most INCs in one block (2..BLOCK_PARTS_MAX). */
  readonly blockMax: number;
  readonly stats: CoalescerStats;
}

type Settle = (out: Forwarded) => void;

interface Block {
  readonly bucketKey: string;
  /** The first INC; the block is this command with COUNT k and a token. */
  readonly first: IncCommand;
  readonly members: Settle[];
}

export class IncCoalescer {
  /** The open block of each bucket, by the bucket's bytes as latin1. */
  private readonly open = new Map<string, Block>();
  private flushScheduled = false;

  /**
   * @param forward sends one command with the router's retries (never rejects in practice).
   * @param sent called after a flush sent its blocks, so they can leave in this loop turn.
   */
  constructor(
    private readonly forward: (command: Command) => Promise<Forwarded>,
    private readonly sent: () => void,
    private readonly options: CoalescerOptions,
  ) {}

  /** A plain INC of one number: what may join a block. */
  static mergeable(command: Command): command is IncCommand {
    return command.type === 'inc' && command.token === undefined && command.count === 1;
  }

  /** Adds a mergeable INC to its sequence's block; settles with this INC's own number. */
  submit(command: IncCommand): Promise<Forwarded> {
    const bucketKey = command.bucket.toString('latin1');
    let block = this.open.get(bucketKey);
    if (block !== undefined && (block.members.length >= this.options.blockMax || !block.first.sequence.equals(command.sequence))) {
      this.dispatch(block);
      block = undefined;
    }
    if (block === undefined) {
      block = { bucketKey, first: command, members: [] };
      this.open.set(bucketKey, block);
      this.schedule();
    }
    const members = block.members;
    return new Promise<Forwarded>((resolve) => members.push(resolve));
  }

  /** Sends the bucket's open block now: call before any other command of that bucket is sent. */
  closeBucket(bucket: Buffer): void {
    if (this.open.size === 0) return;
    const block = this.open.get(bucket.toString('latin1'));
    if (block !== undefined) this.dispatch(block);
  }

  /** Blocks wait for the end of the poll phase, when the INCs of every client read in it are in. */
  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.open.size === 0) return;
      for (const block of [...this.open.values()]) this.dispatch(block);
      this.sent();
    });
  }

  private dispatch(block: Block): void {
    this.open.delete(block.bucketKey);
    const { members } = block;
    if (members.length === 1) {
      this.send(block.first, members[0]!);
      return;
    }
    this.options.stats.blocks++;
    this.options.stats.blockIncs += members.length;
    const command: IncCommand = { ...block.first, count: members.length, token: routerToken() };
    this.send(command, (out) => this.settle(command, members, out));
  }

  private settle(block: IncCommand, members: readonly Settle[], out: Forwarded): void {
    const { result } = out;
    const count = members.length;
    const token = block.token!;
    if (result.type === 'int') {
      members.forEach((settle, i) => settle({ result: intResult(partValue(result.value, count, i)) }));
    } else if (out.retryToken !== undefined) {
      members.forEach((settle, i) => settle({ result, retryToken: partToken(token, i, count) }));
    } else if (result.type === 'error' && isNodeRefusal(result)) {
      // Certainly not applied (e.g. OVERFLOW): one at a time, the numbers left below the maximum still go out.
      const single: IncCommand = { type: 'inc', bucket: block.bucket, sequence: block.sequence, count: 1 };
      for (const settle of members) this.send(single, settle);
    } else {
      for (const settle of members) settle(out);
    }
  }

  private send(command: IncCommand, settle: Settle): void {
    this.forward(command).then(settle, (err: unknown) => settle({ result: internal(err) }));
  }
}

/**
 * An `-ERR` refusal of the shard (the router passes those on as ERR): nothing was applied. The
 * router's cluster words (CLUSTERDOWN, MOVED, ...) are not: those go to every member as they are.
 */
function isNodeRefusal(result: Extract<CommandResult, { type: 'error' }>): boolean {
  return errorReply(result).startsWith('-ERR ');
}

function internal(err: unknown): CommandResult {
  return errorResult(ErrorCode.INTERNAL, `router: ${err instanceof Error ? err.message : String(err)}`);
}
