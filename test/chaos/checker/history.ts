/**
 * The history a chaos run records, and its reduction to logical operations per sequence.
 *
 * One Op is one request attempt as a client saw it. An INC with ID may take several attempts (the
 * client retries the same token after an unknown outcome); they are one logical operation, merged
 * here, because the server promises exactly-once per token.
 */

export type OpType = 'inc' | 'incId' | 'set' | 'get';
/** ok: the reply arrived; fail: certainly not applied; unknown: may or may not have been applied. */
export type OpStatus = 'ok' | 'fail' | 'unknown';

export interface Op {
  /** The client (logical process) that issued it; one op at a time per process. */
  readonly process: number;
  readonly type: OpType;
  readonly bucket: string;
  readonly sequence: string;
  /** The ID token of an incId. */
  readonly token?: string;
  /** Monotonic milliseconds (fractions allowed); equal times count as concurrent. */
  readonly invokeMs: number;
  readonly completeMs: number;
  readonly status: OpStatus;
  /** inc/incId ok: the number returned; set: the value written (any status); get ok: the value, null for nil. */
  readonly value?: bigint | null;
  /** For people reading a report, ignored by the checker: the node the attempt went to, and why it did not succeed. */
  readonly node?: string;
  readonly error?: string;
}

export type LogicalKind = 'inc' | 'set' | 'get';

/** One operation as the checker reasons about it. complete is Infinity when the outcome is unknown. */
export interface LogicalOp {
  /** Indexes into the history of the attempts it came from (one, or several for an incId). */
  readonly opIndexes: readonly number[];
  readonly process: number;
  readonly kind: LogicalKind;
  readonly withToken: boolean;
  readonly invoke: number;
  readonly complete: number;
  readonly status: OpStatus;
  readonly value: bigint | null | undefined;
}

export interface TokenConflict {
  readonly key: string;
  readonly token: string;
  readonly opIndexes: readonly number[];
  readonly values: readonly bigint[];
}

export interface KeyHistory {
  readonly key: string;
  readonly bucket: string;
  readonly sequence: string;
  /** Logical ops except failed ones (they certainly did not apply) and unknown GETs (no effect). */
  readonly ops: readonly LogicalOp[];
  readonly hasSet: boolean;
  readonly hasGet: boolean;
}

export function keyOf(bucket: string, sequence: string): string {
  return JSON.stringify([bucket, sequence]);
}

/** Splits a history per sequence and merges incId attempts; reports tokens answered with two numbers. */
export function partition(history: readonly Op[]): { keys: KeyHistory[]; tokenConflicts: TokenConflict[] } {
  const byKey = new Map<string, { bucket: string; sequence: string; indexes: number[] }>();
  history.forEach((op, i) => {
    const key = keyOf(op.bucket, op.sequence);
    const entry = byKey.get(key) ?? { bucket: op.bucket, sequence: op.sequence, indexes: [] };
    entry.indexes.push(i);
    byKey.set(key, entry);
  });
  const keys: KeyHistory[] = [];
  const tokenConflicts: TokenConflict[] = [];
  for (const [key, { bucket, sequence, indexes }] of byKey) {
    const ops: LogicalOp[] = [];
    const attemptsByToken = new Map<string, number[]>();
    for (const i of indexes) {
      const op = history[i]!;
      if (op.type === 'incId' && op.token !== undefined) {
        const list = attemptsByToken.get(op.token) ?? [];
        list.push(i);
        attemptsByToken.set(op.token, list);
      } else {
        ops.push(single(op, i));
      }
    }
    for (const [token, attempts] of attemptsByToken) {
      const merged = mergeAttempts(history, attempts);
      if (merged.conflict !== null) tokenConflicts.push({ key, token, opIndexes: attempts, values: merged.conflict });
      ops.push(merged.op);
    }
    const live = ops.filter((o) => o.status !== 'fail' && !(o.kind === 'get' && o.status === 'unknown'));
    live.sort((a, b) => a.invoke - b.invoke || a.opIndexes[0]! - b.opIndexes[0]!);
    keys.push({
      key,
      bucket,
      sequence,
      ops: live,
      hasSet: live.some((o) => o.kind === 'set'),
      hasGet: live.some((o) => o.kind === 'get'),
    });
  }
  return { keys, tokenConflicts };
}

function single(op: Op, index: number): LogicalOp {
  const kind: LogicalKind = op.type === 'incId' ? 'inc' : op.type;
  return {
    opIndexes: [index],
    process: op.process,
    kind,
    withToken: op.type === 'incId',
    invoke: op.invokeMs,
    complete: op.status === 'ok' ? op.completeMs : Infinity,
    status: op.status,
    value: op.value,
  };
}

/**
 * Attempts of one token: ok if any attempt got a number (then it happened between the first
 * invocation and the earliest reply), else unknown if any attempt may have applied, else fail.
 */
function mergeAttempts(history: readonly Op[], attempts: readonly number[]): { op: LogicalOp; conflict: bigint[] | null } {
  const ops = attempts.map((i) => history[i]!);
  const oks = ops.filter((o) => o.status === 'ok');
  const values = [...new Set(oks.map((o) => o.value as bigint))];
  const invoke = ops.reduce((m, o) => Math.min(m, o.invokeMs), Infinity);
  const firstOk = oks.reduce<Op | null>((best, o) => (best === null || o.completeMs < best.completeMs ? o : best), null);
  const status: OpStatus = firstOk !== null ? 'ok' : ops.some((o) => o.status === 'unknown') ? 'unknown' : 'fail';
  return {
    op: {
      opIndexes: attempts,
      process: ops[0]!.process,
      kind: 'inc',
      withToken: true,
      invoke,
      complete: firstOk !== null ? firstOk.completeMs : Infinity,
      status,
      value: firstOk?.value,
    },
    conflict: values.length > 1 ? values : null,
  };
}

// ---------------------------------------------------------------------------------------------
// JSON: bigints travel as decimal strings.

export interface OpJson extends Omit<Op, 'value'> {
  readonly value?: string | null;
}

export function opToJson(op: Op): OpJson {
  const { value, ...rest } = op;
  return value === undefined ? rest : { ...rest, value: value === null ? null : value.toString() };
}

export function opFromJson(json: OpJson): Op {
  const { value, ...rest } = json;
  return value === undefined ? rest : { ...rest, value: value === null ? null : BigInt(value) };
}
