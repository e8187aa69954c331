/**
 * The chaos workload: several concurrent client processes, one op at a time each, recording
 * every attempt (invoke, outcome, times) into a history for the checker.
 *
 * Sequences: a few hot ones (INC and INC ID only: the complete INC checks apply), many cold ones
 * (INC, INC ID, now and then a GET), and "register" sequences (SET, GET, INC mixed) that rotate
 * after a bounded number of ops so the linearizability search on each stays small.
 *
 * Outcomes: a reply is ok; a refusal that promises nothing was applied (NOTLEADER, TRYAGAIN,
 * BUSY, ...) or a request never sent is fail; anything else (timeout, dropped connection, other
 * errors on a write) is unknown. INC ID retries its token until it gets a number (also after
 * the run, within finishMs); INC without ID and SET retry only after a fail.
 */
import { MAY_HAVE_APPLIED_WORDS, RETRYABLE_WORDS } from '../../client/outcome.ts';
import type { Reply } from '../../shared/protocol/reply-decoder.ts';
import { Rng } from '../sim/rng.ts';
import type { Op, OpStatus, OpType } from './checker/history.ts';
import { type CallResult, RespConn } from './resp-conn.ts';

export const BUCKET = 'chaos';

export interface WorkloadOptions {
  readonly seed: number;
  readonly processes: number;
  /**
   * Where to send each sequence's commands: the node addresses (host:port) of each shard, a
   * sequence going to shard hash(name) % shards; or, behind routers, one group of routers.
   */
  readonly shards: ReadonlyArray<readonly string[]>;
  /** Buckets the sequences are spread over (routers place by bucket). Default 1: all in BUCKET. */
  readonly buckets?: number;
  /** performance.now() at the run's start; op times are relative to it. */
  readonly t0: number;
  readonly durationMs: number;
  /** After durationMs, how long an INC ID may keep retrying its token. Default 20000. */
  readonly finishMs?: number;
  /** One attempt's timeout. Default 1500. */
  readonly attemptTimeoutMs?: number;
  readonly hotSequences?: number;
  readonly coldSequences?: number;
  /** Ops on one register sequence before the workload moves to the next. Default 60. */
  readonly registerOpsPerKey?: number;
  /** Stop early when this says so (checked between ops). */
  readonly stop?: () => boolean;
  /** The history is held in memory: no new op starts once it has this many attempts. Default 2,000,000. */
  readonly historyOpsMax?: number;
}

/** Attempts per op after fails (NOTLEADER etc.), for ops that are not INC ID. */
const FAIL_RETRIES_MAX = 20;
/** How often an INC ID that got its number is sent once more (its answer must not change). */
const TOKEN_REPEAT_CHANCE = 0.1;
/** Attempts per INC ID token, in all. */
const TOKEN_ATTEMPTS_MAX = 400;

export async function runWorkload(o: WorkloadOptions): Promise<Op[]> {
  const history: Op[] = [];
  const shared = { registerOps: 0 };
  await Promise.all(Array.from({ length: o.processes }, (_, p) => new ClientProcess(p, o, history, shared).run()));
  return history;
}

interface Planned {
  readonly type: OpType;
  readonly sequence: string;
  readonly setValue?: bigint;
}

export function bucketOf(sequence: string, buckets: number): string {
  return buckets > 1 ? `${BUCKET}${shardOf(`b:${sequence}`, buckets)}` : BUCKET;
}

class ClientProcess {
  readonly #rng: Rng;
  readonly #conns = new Map<string, RespConn>();
  /** Per shard: the node we believe leads. */
  readonly #target: number[];
  #opNo = 0;

  constructor(
    readonly id: number,
    readonly o: WorkloadOptions,
    readonly history: Op[],
    readonly shared: { registerOps: number },
  ) {
    this.#rng = new Rng(o.seed * 1000 + id + 1);
    this.#target = o.shards.map((nodes) => id % nodes.length);
  }

  async run(): Promise<void> {
    const endAt = this.o.t0 + this.o.durationMs;
    try {
      const opsMax = this.o.historyOpsMax ?? 2_000_000;
      while (performance.now() < endAt && this.o.stop?.() !== true && this.history.length < opsMax) await this.#perform(this.#plan());
    } finally {
      for (const c of this.#conns.values()) c.close();
    }
  }

  #plan(): Planned {
    const r = this.#rng.next();
    const hot = this.o.hotSequences ?? 2;
    const cold = this.o.coldSequences ?? 500;
    if (r < 0.4) return { type: this.#rng.chance(0.5) ? 'inc' : 'incId', sequence: `hot-${this.#rng.int(hot)}` };
    if (r < 0.6) {
      const type: OpType = this.#rng.chance(0.15) ? 'get' : this.#rng.chance(0.5) ? 'inc' : 'incId';
      return { type, sequence: `cold-${this.#rng.int(cold)}` };
    }
    const key = Math.floor(this.shared.registerOps++ / (this.o.registerOpsPerKey ?? 60));
    const x = this.#rng.next();
    const sequence = `reg-${key}`;
    if (x < 0.25) return { type: 'set', sequence, setValue: BigInt(this.#rng.int(1_000_000)) };
    if (x < 0.65) return { type: 'get', sequence };
    return { type: this.#rng.chance(0.5) ? 'inc' : 'incId', sequence };
  }

  async #perform(plan: Planned): Promise<void> {
    const token = plan.type === 'incId' ? `p${this.id}-${this.#opNo}` : undefined;
    this.#opNo++;
    const bucket = bucketOf(plan.sequence, this.o.buckets ?? 1);
    const args = requestArgs(plan, bucket, token);
    const finishAt = this.o.t0 + this.o.durationMs + (this.o.finishMs ?? 20_000);
    const attemptsMax = plan.type === 'incId' ? TOKEN_ATTEMPTS_MAX : FAIL_RETRIES_MAX;
    for (let attempt = 0; attempt < attemptsMax; attempt++) {
      const shard = shardOf(plan.sequence, this.o.shards.length);
      const invokeMs = performance.now() - this.o.t0;
      const conn = this.#conn(shard);
      const result = await conn.call(args, this.o.attemptTimeoutMs ?? 1500);
      const completeMs = performance.now() - this.o.t0;
      const outcome = classify(result, plan.type);
      this.history.push({
        process: this.id, type: plan.type, bucket, sequence: plan.sequence,
        ...(token !== undefined ? { token } : {}),
        invokeMs, completeMs, status: outcome.status,
        ...(plan.type === 'set' ? { value: plan.setValue! } : outcome.value !== undefined ? { value: outcome.value } : {}),
        node: `${conn.host}:${conn.port}`,
        ...(outcome.status !== 'ok' ? { error: describe(result) } : {}),
      });
      if (outcome.status === 'ok') {
        // Now and then ask a finished token again: the answer must be the same number. Without
        // this no token ever had two answers to compare (a checker review).
        if (plan.type === 'incId' && this.#rng.chance(TOKEN_REPEAT_CHANCE)) await this.#repeat(plan, bucket, token!, args, shard);
        return;
      }
      this.#follow(shard, outcome.hint);
      // Only a token makes a retry after an unknown outcome safe.
      if (outcome.status === 'unknown' && plan.type !== 'incId' && plan.type !== 'get') return;
      const past = performance.now() >= (plan.type === 'incId' ? finishAt : this.o.t0 + this.o.durationMs);
      if (past || this.o.stop?.() === true) return;
      await sleep(20 + this.#rng.int(80));
    }
  }

  /** One more attempt of a token that already got its number, recorded like any attempt. */
  async #repeat(plan: Planned, bucket: string, token: string, args: readonly string[], shard: number): Promise<void> {
    const conn = this.#conn(shard);
    const invokeMs = performance.now() - this.o.t0;
    const result = await conn.call(args, this.o.attemptTimeoutMs ?? 1500);
    const outcome = classify(result, plan.type);
    this.history.push({
      process: this.id, type: plan.type, bucket, sequence: plan.sequence, token,
      invokeMs, completeMs: performance.now() - this.o.t0, status: outcome.status,
      ...(outcome.value !== undefined ? { value: outcome.value } : {}),
      node: `${conn.host}:${conn.port}`,
      ...(outcome.status !== 'ok' ? { error: describe(result) } : {}),
    });
  }

  #conn(shard: number): RespConn {
    const addr = this.o.shards[shard]![this.#target[shard]!]!;
    let c = this.#conns.get(addr);
    if (c === undefined) {
      const at = addr.lastIndexOf(':');
      c = new RespConn(addr.slice(0, at), Number(addr.slice(at + 1)));
      this.#conns.set(addr, c);
    }
    return c;
  }

  /** NOTLEADER with an address we know: go there; otherwise try the next node. */
  #follow(shard: number, hint: string | null): void {
    const nodes = this.o.shards[shard]!;
    const hinted = hint === null ? -1 : nodes.indexOf(hint);
    if (hinted >= 0 && hinted !== this.#target[shard]) this.#target[shard] = hinted;
    else this.#target[shard] = (this.#target[shard]! + 1) % nodes.length;
  }
}

function requestArgs(plan: Planned, bucket: string, token: string | undefined): string[] {
  switch (plan.type) {
    case 'inc':
      return ['INC', bucket, plan.sequence];
    case 'incId':
      return ['INC', bucket, plan.sequence, 'ID', token!];
    case 'set':
      return ['SET', bucket, plan.sequence, plan.setValue!.toString()];
    case 'get':
      return ['GET', bucket, plan.sequence];
  }
}

export interface Outcome {
  readonly status: OpStatus;
  readonly value?: bigint | null;
  /** host:port from a NOTLEADER reply. */
  readonly hint: string | null;
}

/** What one attempt means for the history (see the file comment). Pure. */
export function classify(result: CallResult, type: OpType): Outcome {
  if (result.kind === 'unsent') return { status: 'fail', hint: null };
  if (result.kind === 'lost') return { status: type === 'get' ? 'fail' : 'unknown', hint: null };
  return classifyReply(result.reply, type);
}

function classifyReply(reply: Reply, type: OpType): Outcome {
  if (reply.kind === 'error') {
    const hint = reply.word === 'NOTLEADER' ? (reply.message.split(' ')[1] ?? null) : null;
    // CLUSTERDOWN is a router's deadline, possibly after an attempt that applied (client/outcome.ts).
    const refused = RETRYABLE_WORDS.has(reply.word) && !MAY_HAVE_APPLIED_WORDS.has(reply.word);
    return { status: refused || type === 'get' ? 'fail' : 'unknown', hint: hint === '?' ? null : hint };
  }
  if (type === 'set') return reply.kind === 'string' ? { status: 'ok', hint: null } : { status: 'unknown', hint: null };
  if (reply.kind === 'integer') return { status: 'ok', value: reply.value, hint: null };
  if (type === 'get' && reply.kind === 'null') return { status: 'ok', value: null, hint: null };
  // A reply of the wrong shape: count it as unknown rather than guess.
  return { status: type === 'get' ? 'fail' : 'unknown', hint: null };
}

function describe(result: CallResult): string {
  if (result.kind !== 'reply') return `${result.kind}: ${result.error}`;
  const r = result.reply;
  return (r.kind === 'error' ? `${r.word} ${r.message}` : `unexpected ${r.kind} reply`).slice(0, 120);
}

/** FNV-1a of the name: which shard a sequence lives on when there is no router. */
export function shardOf(sequence: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < sequence.length; i++) h = Math.imul(h ^ sequence.charCodeAt(i), 0x01000193) >>> 0;
  return h % shards;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
