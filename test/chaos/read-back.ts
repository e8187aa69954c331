/**
 * After the heal (and the final rebalance, and the INC ID retries): read every sequence of the
 * history back once, and take one INC ID on a probe sequence of every bucket (routed) or shard.
 *
 * - The GETs go into the history: a number taken after a sequence's last acknowledged INC (a
 *   refusal that did apply, a token answered twice at the end, ...) is otherwise never seen,
 *   since the gap check only looks below the largest acknowledged value.
 * - A bucket or shard whose probe never succeeds within the deadline did not recover: a leader
 *   answering INFO (recoveryMs) is not the same as serving INCs (slots left frozen, a wedged
 *   leader).
 */
import type { Op } from './checker/history.ts';
import { bucketOf, classify, shardOf } from './clients.ts';
import { RespConn } from './resp-conn.ts';

export interface ReadBackOptions {
  readonly shards: ReadonlyArray<readonly string[]>;
  readonly buckets: number;
  readonly t0: number;
  /** For everything, from now. */
  readonly deadlineMs: number;
  readonly parallel?: number;
}

export interface ReadBack {
  readonly ops: Op[];
  /** Sequences (JSON [bucket, sequence]) with no answered GET. */
  readonly unread: string[];
  /** Buckets (routed) or shards whose probe INC never got a number. */
  readonly deadProbes: string[];
}

const PROCESS = 1_000_000;

export async function readBack(history: readonly Op[], o: ReadBackOptions): Promise<ReadBack> {
  const deadline = performance.now() + o.deadlineMs;
  const seqs = new Map<string, { bucket: string; sequence: string }>();
  for (const op of history) seqs.set(JSON.stringify([op.bucket, op.sequence]), { bucket: op.bucket, sequence: op.sequence });
  const probes: Array<{ bucket: string; sequence: string; group: string }> = [];
  if (o.buckets > 1) {
    for (let b = 0; b < o.buckets; b++) probes.push({ bucket: `chaos${b}`, sequence: `probe-b${b}`, group: `bucket chaos${b}` });
  } else {
    // One probe sequence per shard: the first name that hashes there.
    for (let s = 0; s < o.shards.length; s++) {
      let i = 0;
      while (shardOf(`probe-${i}`, o.shards.length) !== s) i++;
      probes.push({ bucket: bucketOf(`probe-${i}`, 1), sequence: `probe-${i}`, group: `shard ${s}` });
    }
  }
  // Timed, as real clients' tokens are: a shard whose clock ran ahead refuses those (TOKEN_EXPIRED).
  const probeToken = `${Date.now()}-read-back-probe`;
  const ops: Op[] = [];
  const unread: string[] = [];
  const deadProbes: string[] = [];
  const jobs: Array<(process: number) => Promise<void>> = [
    ...probes.map((p) => async (process: number) => {
      if (!(await attempt(o, ops, process, deadline, p.bucket, p.sequence, ['INC', p.bucket, p.sequence, 'ID', probeToken], 'incId'))) deadProbes.push(p.group);
    }),
    ...[...seqs].map(([key, s]) => async (process: number) => {
      if (!(await attempt(o, ops, process, deadline, s.bucket, s.sequence, ['GET', s.bucket, s.sequence], 'get'))) unread.push(key);
    }),
  ];
  let next = 0;
  await Promise.all(Array.from({ length: o.parallel ?? 8 }, async (_, worker) => {
    while (next < jobs.length) await jobs[next++]!(PROCESS + worker);
  }));
  return { ops, unread, deadProbes };
}

/** Per shard position, the address that answered last: a follower's NOTLEADER costs a round trip each time. */
const preferred = new Map<number, number>();

/** Retries one request until it is answered ok or the deadline passes; records every attempt. */
async function attempt(o: ReadBackOptions, ops: Op[], process: number, deadline: number, bucket: string, sequence: string, args: string[], type: 'get' | 'incId'): Promise<boolean> {
  const shard = o.buckets > 1 ? 0 : shardOf(sequence, o.shards.length);
  const addrs = o.shards[shard]!;
  const first = preferred.get(shard) ?? 0;
  for (let k = 0; performance.now() < deadline; k++) {
    const which = (first + k) % addrs.length;
    const addr = addrs[which]!;
    const colon = addr.lastIndexOf(':');
    const conn = new RespConn(addr.slice(0, colon), Number(addr.slice(colon + 1)));
    const invokeMs = performance.now() - o.t0;
    const result = await conn.call(args, 1_500);
    conn.close();
    const outcome = classify(result, type);
    ops.push({
      process, type, bucket, sequence, ...(type === 'incId' ? { token: args[4]! } : {}),
      invokeMs, completeMs: performance.now() - o.t0, status: outcome.status,
      ...(outcome.value !== undefined ? { value: outcome.value } : {}), node: addr,
    });
    if (outcome.status === 'ok') {
      preferred.set(shard, which);
      return true;
    }
    // Every address asked once: wait before the next round (a leader may be being elected).
    if (k % addrs.length === addrs.length - 1) await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
