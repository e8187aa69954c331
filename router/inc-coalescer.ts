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
 *   the open block (`closeBucket`). Only later commands of other buckets can overtake it; no
 *   order between buckets is promised (they may live on different shards).
 * - Retries resend the same block with the same token (exactly-once on the node). If the router
 *   gives up with the outcome unknown, member i is told to retry with `ID <token> PART <i>/<k>`
 *   (shared/protocol/part-token.ts), which takes or finds the whole block and answers number
 *   i. (So one member's retry takes all k numbers: members that never retry leave theirs unused.)
 * - The block's token is a block token (`<ms>-<16 chars>~<k>`, part-token.ts), which the shard
 *   accepts only with COUNT k or PART i/k: k clients that all retried `ID <token>` alone would
 *   otherwise share the one number the first of them took.
 * - A block refused for OVERFLOW (near the maximum value) at its first try is sent again one INC
 *   at a time, so each client gets what it would have got without merging (the numbers left
 *   below the maximum still go out), unless another command of the bucket went out meanwhile:
 *   re-sent after it, the INCs would run out of their order, so then every member gets the
 *   error (an INC may then be refused although a few numbers remain; nothing is taken or
 *   skipped). Other errors go to every member as they are.
 */
import { ErrorCode } from '../shared/errors.ts';
import { errorResult, intResult, type Command, type CommandResult, type IncCommand } from '../node/state-machine/command.ts';
import { blockToken, partRetry, partValue } from '../shared/protocol/part-token.ts';
import { routerToken } from './token.ts';

/** What forwarding one command ended with. */
export interface Forwarded {
  readonly result: CommandResult;
  /**
   * Set when the router gave up after an attempt that may have applied: what to retry with
   * (`ID <token>`, or `ID <token> PART <i>/<k>` for one number of a block).
   */
  readonly retryWith?: string;
  /** An earlier attempt may have applied (the result is a later attempt's answer). */
  readonly mayHaveApplied?: boolean;
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

interface Flight {
  overtaken: boolean;
}

interface Block {
  readonly bucketKey: string;
  /** The first INC; the block is this command with COUNT k and a token. */
  readonly first: IncCommand;
  readonly members: Settle[];
}

export class IncCoalescer {
  /** The open block of each bucket, by the bucket's bytes as latin1. */
  private readonly open = new Map<string, Block>();
  /** Blocks sent and not settled, per bucket: whether a later command of the bucket went out. */
  private readonly inFlight = new Map<string, Set<Flight>>();
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
    if (this.open.size === 0 && this.inFlight.size === 0) return;
    const bucketKey = bucket.toString('latin1');
    const block = this.open.get(bucketKey);
    if (block !== undefined) this.dispatch(block);
    this.overtake(bucketKey);
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
    const { bucketKey, members } = block;
    this.open.delete(bucketKey);
    this.overtake(bucketKey);
    if (members.length === 1) {
      this.send(block.first, members[0]!);
      return;
    }
    this.options.stats.blocks++;
    this.options.stats.blockIncs += members.length;
    const token = Buffer.from(blockToken(routerToken().toString('latin1'), members.length), 'latin1');
    const command: IncCommand = { ...block.first, count: members.length, token };
    const flight: Flight = { overtaken: false };
    let flights = this.inFlight.get(bucketKey);
    if (flights === undefined) this.inFlight.set(bucketKey, (flights = new Set()));
    flights.add(flight);
    this.send(command, (out) => {
      flights.delete(flight);
      if (flights.size === 0 && this.inFlight.get(bucketKey) === flights) this.inFlight.delete(bucketKey);
      this.settle(command, members, out, flight.overtaken);
    });
  }

  /** A command of the bucket is going out: blocks in flight can no longer be re-sent in their place. */
  private overtake(bucketKey: string): void {
    const flights = this.inFlight.get(bucketKey);
    if (flights !== undefined) for (const flight of flights) flight.overtaken = true;
  }

  private settle(block: IncCommand, members: readonly Settle[], out: Forwarded, overtaken: boolean): void {
    const { result } = out;
    const count = members.length;
    const token = block.token!;
    if (result.type === 'int') {
      members.forEach((settle, i) => settle({ result: intResult(partValue(result.value, count, i)) }));
    } else if (out.retryWith !== undefined) {
      members.forEach((settle, i) => settle({ result, retryWith: partRetry(token, i, count) }));
    } else if (result.type === 'error' && isOverflow(result) && !out.mayHaveApplied && !overtaken) {
      // Certainly not applied, and nothing of the bucket went out after it: one at a time in its
      // place, the numbers left below the maximum still go out.
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
 * The shard's overflow refusal (passed on by the router as `-ERR increment would overflow`): the
 * one error of a fresh block that says nothing was applied and that the same INCs one at a time
 * could partly avoid. Any other error (a cluster word, an expired token after a lost reply) goes
 * to every member as it is: re-sending could take numbers the block already took.
 */
function isOverflow(result: Extract<CommandResult, { type: 'error' }>): boolean {
  return result.message.startsWith('increment would overflow');
}

function internal(err: unknown): CommandResult {
  return errorResult(ErrorCode.INTERNAL, `router: ${err instanceof Error ? err.message : String(err)}`);
}
