/**
 * Seeded generator of histories that are linearizable by construction, for testing the checker:
 * each op gets a linearization point inside its [invoke, complete] interval, the register model
 * is applied in point order, and some outcomes are hidden (unknown) or refused (fail, no effect).
 */
import { Rng } from '../../sim/rng.ts';
import type { Op, OpStatus, OpType } from './history.ts';

export interface GenerateOptions {
  readonly seed: number;
  readonly processes: number;
  readonly opsPerProcess: number;
  readonly sequences: number;
  /** Only INC and INC ID (no SET, no GET). Default false. */
  readonly incOnly?: boolean;
}

interface Slot {
  readonly process: number;
  readonly type: OpType;
  readonly sequence: string;
  readonly invokeMs: number;
  readonly linMs: number;
  readonly completeMs: number;
  readonly status: OpStatus;
  /** Unknown outcome: did it take effect? */
  readonly applied: boolean;
  readonly token?: string;
  /** For a retry: the slot of the earlier attempt with the same token. */
  readonly retryOf?: Slot;
  setValue?: bigint;
  value?: bigint | null;
}

export function generateHistory(o: GenerateOptions): Op[] {
  const rng = new Rng(o.seed);
  const slots: Slot[] = [];
  for (let p = 0; p < o.processes; p++) {
    let t = rng.next() * 5;
    for (let n = 0; n < o.opsPerProcess; n++) {
      const attempt = makeSlot(rng, o, p, n, t, undefined);
      slots.push(attempt);
      t = attempt.completeMs + rng.next() * 3;
      if (attempt.type === 'incId' && attempt.status === 'unknown' && rng.chance(0.7)) {
        const retry = makeSlot(rng, o, p, n, t, attempt);
        slots.push(retry);
        t = retry.completeMs + rng.next() * 3;
      }
    }
  }
  applyInOrder(slots);
  return slots.map(toOp);
}

function makeSlot(rng: Rng, o: GenerateOptions, process: number, n: number, t: number, retryOf: Slot | undefined): Slot {
  const type: OpType = retryOf !== undefined ? 'incId' : pickType(rng, o.incOnly === true);
  const duration = 0.5 + rng.next() * (rng.chance(0.1) ? 40 : 6);
  const roll = rng.next();
  // A retry is answered (ok); a first attempt is sometimes unknown or failed.
  const status: OpStatus = retryOf !== undefined ? 'ok' : roll < 0.06 ? 'unknown' : roll < 0.1 ? 'fail' : 'ok';
  const linMs = t + rng.next() * duration;
  const slot: Slot = {
    process,
    type,
    sequence: `s${rng.int(o.sequences)}`,
    invokeMs: t,
    linMs,
    // An unknown op's reply never came; its interval still closes (the client gave up).
    completeMs: t + duration,
    status,
    applied: status === 'ok' || (status === 'unknown' && rng.chance(0.5)),
    ...(type === 'incId' ? { token: retryOf?.token ?? `p${process}-${n}` } : {}),
    ...(retryOf !== undefined ? { retryOf } : {}),
  };
  if (retryOf !== undefined) return { ...slot, sequence: retryOf.sequence };
  if (type === 'set') slot.setValue = BigInt(rng.int(1000));
  return slot;
}

function pickType(rng: Rng, incOnly: boolean): OpType {
  const r = rng.next();
  if (incOnly) return r < 0.5 ? 'inc' : 'incId';
  return r < 0.35 ? 'inc' : r < 0.6 ? 'incId' : r < 0.7 ? 'set' : 'get';
}

function applyInOrder(slots: Slot[]): void {
  const state = new Map<string, bigint | null>();
  for (const s of [...slots].sort((a, b) => a.linMs - b.linMs)) {
    if (!s.applied) continue;
    if (s.retryOf?.applied === true) {
      s.value = s.retryOf.value as bigint; // exactly-once: the retry gets the first attempt's number
      continue;
    }
    const current = state.get(s.sequence) ?? null;
    if (s.type === 'get') s.value = current;
    else if (s.type === 'set') state.set(s.sequence, s.setValue!);
    else {
      const next = (current ?? 0n) + 1n;
      state.set(s.sequence, next);
      s.value = next;
    }
  }
}

function toOp(s: Slot): Op {
  const base = {
    process: s.process, type: s.type, bucket: 'gen', sequence: s.sequence,
    invokeMs: s.invokeMs, completeMs: s.completeMs, status: s.status,
    ...(s.token !== undefined ? { token: s.token } : {}),
  };
  if (s.type === 'set') return { ...base, value: s.setValue! };
  if (s.status === 'ok') return { ...base, value: s.value ?? null };
  return base;
}
