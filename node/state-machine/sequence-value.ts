/** A sequence's stored value: read, and written with the count of distinct sequences kept. */
import { readU64, u64 } from './keys.ts';
import type { KvReader, KvTxn } from './kv.ts';
import { addMeta } from './meta.ts';

/** The value under `key` (a sequenceKey), 0 for a sequence never used. */
export function readSequenceAt(kv: KvReader, key: Buffer): bigint {
  return readU64(kv.get(key));
}

export function writeSequence(txn: KvTxn, key: Buffer, value: bigint): void {
  if (txn.get(key) === undefined) addMeta(txn, 'sequences', 1n);
  txn.put(key, u64(value));
}
