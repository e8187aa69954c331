/**
 * How the rebalance coordinator talks to shards: one CLUSTER command to a shard's leader, found
 * from the shard's address hints and NOTLEADER redirections, retried within a bounded time.
 * Every move step is idempotent on the shard (node/ownership/move-*.ts), so retrying a step
 * whose outcome is unknown (timeout, lost connection, leader change) is always safe.
 */
import { NodePool } from '../../router/node-connection.ts';
import type { Reply } from '../../shared/protocol/index.ts';
import type { InternalDialOptions } from '../../shared/security/internal-options.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

export interface ShardClientOptions {
  /** One request's timeout. Default 5000 ms. */
  readonly requestTimeoutMs?: number;
  /** Total time one step may take, retries included. Default 30000 ms. */
  readonly stepDeadlineMs?: number;
  /** Pause between rounds over the addresses. Default 100 ms. */
  readonly backoffMs?: number;
  /** Cluster secret and TLS, when the cluster uses them (CLUSTER commands are internal). */
  readonly dial?: InternalDialOptions;
}

/** A step the shard refused on its guards (`-ERR move refused: ...`): retrying cannot help. */
export class StepRefused extends Error {
  override readonly name = 'StepRefused';
  constructor(readonly shard: string, readonly reply: string) {
    super(`shard ${shard}: ${reply}`);
  }
}

/** No usable answer within the step deadline: the coordinator stops; a rerun resumes. */
export class StepTimeout extends Error {
  override readonly name = 'StepTimeout';
}

const MOVE_REFUSED_TEXT = /^move refused:/;
/** Answers after which another attempt (maybe elsewhere) is the thing to do. */
const TRANSIENT_WORDS = new Set(['NOTLEADER', 'TRYAGAIN', 'CLUSTERDOWN', 'BUSY', 'AMBIGUOUS', 'SHUTDOWN']);
const TRANSIENT_ERR_TEXT = /shutting down|may or may not have applied|retry only with the same ID token|not leader/i;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ShardClient {
  private pool: NodePool;
  private readonly dial: InternalDialOptions;
  private readonly leaders = new Map<string, string>();
  private readonly requestTimeoutMs: number;
  private readonly stepDeadlineMs: number;
  private readonly backoffMs: number;

  constructor(options: ShardClientOptions = {}) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.stepDeadlineMs = options.stepDeadlineMs ?? 30_000;
    this.backoffMs = options.backoffMs ?? 100;
    this.pool = new NodePool({ ...(options.dial ?? {}) });
    this.dial = options.dial ?? {};
  }

  /**
   * From now on, uses only nodes of `cluster` (SEQDB.IDENT, router/node-connection.ts): the
   * coordinator learns the name from the router's INFO, after its first request.
   */
  useCluster(cluster: string): void {
    this.pool.closeAll();
    this.pool = new NodePool({ ...this.dial, cluster });
  }

  /**
   * Sends `args` to the leader of `shard` (addresses: `addrs()`, re-read every round) until it
   * gives a definitive answer, for at most `withinMs` (default: the step deadline). Resolves with
   * a non-error reply; throws StepRefused for a refusal and other node errors, StepTimeout after the deadline.
   */
  async call(shard: string, addrs: () => readonly string[], args: readonly string[], withinMs = this.stepDeadlineMs): Promise<Reply> {
    const deadline = monoNowMs() + withinMs;
    let last = 'no address';
    while (monoNowMs() < deadline) {
      const hint = this.leaders.get(shard);
      const queue = [...(hint ? [hint] : []), ...addrs()];
      const tried = new Set<string>();
      while (queue.length > 0 && tried.size < 32 && monoNowMs() < deadline) {
        const address = queue.shift()!;
        if (tried.has(address)) continue;
        tried.add(address);
        const timeout = Math.max(1, Math.min(this.requestTimeoutMs, deadline - monoNowMs()));
        const out = await this.pool.send(address, args, timeout);
        if (!out.ok) {
          last = `${address} ${out.why}`;
          if (this.leaders.get(shard) === address) this.leaders.delete(shard);
          continue;
        }
        const r = out.reply;
        if (r.kind !== 'error') {
          this.leaders.set(shard, address);
          return r;
        }
        last = `${address}: -${r.word} ${r.message}`;
        if (r.word === 'NOTLEADER') {
          if (this.leaders.get(shard) === address) this.leaders.delete(shard);
          const [of, next] = r.message.split(' ');
          // A node of another shard (a stale or reused address): its leader is not this shard's.
          if (of !== shard) {
            last = `${address} is a node of shard ${of}, not ${shard}`;
            continue;
          }
          if (next !== undefined && next !== '?') queue.unshift(next);
          continue;
        }
        if (TRANSIENT_WORDS.has(r.word) || TRANSIENT_ERR_TEXT.test(r.message)) continue;
        this.leaders.set(shard, address);
        throw new StepRefused(shard, MOVE_REFUSED_TEXT.test(r.message) ? r.message : `-${r.word} ${r.message}`);
      }
      await sleep(this.backoffMs);
    }
    throw new StepTimeout(`shard ${shard}: no answer to ${args.slice(0, 2).join(' ')} within ${withinMs} ms (last: ${last})`);
  }

  /** One plain request to one address (router INFO); null when there is no reply. */
  async once(address: string, args: readonly string[]): Promise<Reply | null> {
    const out = await this.pool.send(address, args, this.requestTimeoutMs);
    return out.ok ? out.reply : null;
  }

  close(): void {
    this.pool.closeAll();
  }
}

export function isMoveRefusal(err: unknown): err is StepRefused {
  return err instanceof StepRefused && MOVE_REFUSED_TEXT.test(err.reply);
}
