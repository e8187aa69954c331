/**
 * The staging area of chunked imports (move-import.ts): parts of a slot move's data committed on
 * the target before it owns anything. Keyed by the move epoch, so parts of different moves never
 * mix, and nothing here is served: only IMPORTDONE turns staged parts into live data.
 *
 *   0x12 u64 M u32 k -> u16 len | after | u16 len | last | u32 count | data
 *
 * `after` is the export cursor the part was read from (empty for the first part) and `last` the
 * last key it holds; staged parts 0..j of one epoch always form a chain (part i+1 starts where
 * part i ends), which is what lets a resumed coordinator continue from the last staged part.
 */
import type { KvReader, KvTxn } from '../state-machine/kv.ts';

export const SPACE_STAGING = 0x12;

export interface StagedPart {
  readonly after: Buffer;
  readonly last: Buffer;
  readonly count: number;
  readonly data: Buffer;
}

export function stagingKey(epoch: number, part: number): Buffer {
  const out = Buffer.alloc(13);
  out[0] = SPACE_STAGING;
  out.writeBigUInt64BE(BigInt(epoch), 1);
  out.writeUInt32BE(part, 9);
  return out;
}

function epochPrefix(epoch: number): Buffer {
  return stagingKey(epoch, 0).subarray(0, 9);
}

export function readPart(kv: KvReader, epoch: number, part: number): StagedPart | undefined {
  const bytes = kv.get(stagingKey(epoch, part));
  if (bytes === undefined) return undefined;
  let at = 0;
  const field = (): Buffer => {
    const n = bytes.readUInt16BE(at);
    const out = Buffer.from(bytes.subarray(at + 2, at + 2 + n));
    at += 2 + n;
    return out;
  };
  const after = field();
  const last = field();
  const count = bytes.readUInt32BE(at);
  return { after, last, count, data: Buffer.from(bytes.subarray(at + 4)) };
}

/**
 * Stages part `part` and drops any later part of the epoch (they belonged to another chain).
 * Only keys after `part` are visited: when every staged part was read here, each IMPORTPART's
 * apply step grew with the parts before it and a move's copy was quadratic in its pages.
 */
export function writePart(txn: KvTxn, epoch: number, part: number, staged: StagedPart): void {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(staged.after.length, 0);
  const mid = Buffer.alloc(2);
  mid.writeUInt16BE(staged.last.length, 0);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(staged.count, 0);
  const key = stagingKey(epoch, part);
  txn.put(key, Buffer.concat([head, staged.after, mid, staged.last, count, staged.data]));
  // Collect first: no writes while a scan is open.
  const later = [...txn.scan(epochPrefix(epoch), key)].map((e) => Buffer.from(e.key));
  for (const k of later) txn.remove(k);
}

/**
 * How many parts of the epoch are staged. The chain 0..n-1 has no holes (a part is staged only
 * after the one before it, and restaging one drops those after it), so n is found by probing keys,
 * doubling then halving: O(log n) lookups, no part read.
 */
export function stagedParts(kv: KvReader, epoch: number): number {
  if (!kv.has(stagingKey(epoch, 0))) return 0;
  let present = 0;
  let absent = 1;
  while (kv.has(stagingKey(epoch, absent))) {
    present = absent;
    absent *= 2;
  }
  while (absent - present > 1) {
    const mid = present + Math.floor((absent - present) / 2);
    if (kv.has(stagingKey(epoch, mid))) present = mid;
    else absent = mid;
  }
  return absent;
}

/** Drops every staged part of epochs <= `epoch` (done, rejected, or superseded moves). */
export function clearStaging(txn: KvTxn, epoch: number): number {
  const doomed: Buffer[] = [];
  for (const e of txn.scan(Buffer.of(SPACE_STAGING))) {
    if (e.key.length === 13 && Number(e.key.readBigUInt64BE(1)) <= epoch) doomed.push(Buffer.from(e.key));
  }
  for (const key of doomed) txn.remove(key);
  return doomed.length;
}
