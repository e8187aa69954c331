/** A sequence's stored value, written with the count of distinct sequences kept. */
import { u64 } from './keys.ts';
import type { KvTxn } from './kv.ts';
import { addMeta } from './meta.ts';

export function writeSequence(txn: KvTxn, key: Buffer, value: bigint): void {
  writeSequenceKnown(txn, key, value, txn.get(key) !== undefined);
}

/** writeSequence when the caller already read whether the sequence `existed`. */
export function writeSequenceKnown(txn: KvTxn, key: Buffer, value: bigint, existed: boolean): void {
  if (!existed) addMeta(txn, 'sequences', 1n);
  txn.put(key, u64(value));
}
