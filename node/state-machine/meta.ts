/** Typed access to the meta keys (counters, clock, applied index). */
import { META, readU64, u64 } from './keys.ts';
import type { KvReader, KvTxn } from './kv.ts';

type MetaName = keyof typeof META;

export function getMeta(kv: KvReader, name: MetaName): bigint {
  return readU64(kv.get(META[name]));
}

export function setMeta(txn: KvTxn, name: MetaName, value: bigint): void {
  if (value < 0n) throw new Error(`meta ${name} would go negative`);
  txn.put(META[name], u64(value));
}

export function addMeta(txn: KvTxn, name: MetaName, delta: bigint): bigint {
  const value = getMeta(txn, name) + delta;
  setMeta(txn, name, value);
  return value;
}

/**
 * Records the Raft index whose command this transaction applied. Write it in the SAME
 * transaction as the command's effects so state and applied index can never disagree.
 */
export function setAppliedIndex(txn: KvTxn, index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`bad applied index ${index}`);
  const current = getAppliedIndex(txn);
  if (index < current) throw new RangeError(`applied index would go back from ${current} to ${index}`);
  setMeta(txn, 'appliedIndex', BigInt(index));
}

export function getAppliedIndex(kv: KvReader): number {
  return Number(getMeta(kv, 'appliedIndex'));
}

export interface StateSummary {
  readonly sequences: number;
  readonly tokens: number;
  readonly appliedIndex: number;
  readonly clockMs: number;
}

export function stateSummary(kv: KvReader): StateSummary {
  return {
    sequences: Number(getMeta(kv, 'sequences')),
    tokens: Number(getMeta(kv, 'tokens')),
    appliedIndex: Number(getMeta(kv, 'appliedIndex')),
    clockMs: Number(getMeta(kv, 'clockMs')),
  };
}
