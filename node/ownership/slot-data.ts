/**
 * The data of a set of slots inside one shard's state: what a slot move reads from the source
 * (one consistent read, inside the apply step of CLUSTER EXPORT), installs on the target
 * (CLUSTER IMPORT) and deletes from the source (CLUSTER RELEASE).
 *
 * Bucket-keyed spaces: every key is `tag | u16 len | bucket | ...` (node/state-machine/keys.ts),
 * so a key's slot is slotOf(bucket). Sequences are copied verbatim; exactly-once token records
 * are re-serialized into the target's eviction order (tokens.ts adoptTokenRecord). The source's
 * TOKEN_EXPIRED fence (meta evictedTimedMaxMs) travels too: the target keeps the larger one, so
 * a retry with a token the source already forgot cannot get a fresh number on the target.
 *
 * Issue 12's audit spaces (state-machine/series-keys.ts) are copied verbatim, including its
 * global expiry index, whose keys carry the bucket after a u64 time. Any new space that holds
 * per-bucket data must be listed in MOVABLE_SPACES, or a move would leave it behind.
 */
import { slotOf } from '../../shared/placement/slot.ts';
import { SPACE_SEQUENCE, SPACE_TOKEN, META } from '../state-machine/keys.ts';
import type { KvEntry, KvReader, KvTxn } from '../state-machine/kv.ts';
import { addMeta, getMeta, setMeta } from '../state-machine/meta.ts';
import { decodeSnapshot, encodeSnapshot } from '../state-machine/snapshot.ts';
import { adoptTokenRecord, forgetTokenRecord } from '../state-machine/tokens.ts';
import { SERIES_BUCKET_SPACES, SPACE_SERIES_EXPIRY } from '../state-machine/series-keys.ts';
import type { SlotSet } from './slot-set.ts';

export interface MovableSpace {
  readonly tag: number;
  /** How an entry is installed on the target. */
  readonly kind: 'sequence' | 'token' | 'verbatim';
  /** Offset of lp(bucket) in the key. Default 1 (right after the tag). */
  readonly bucketAt?: number;
}

/** Spaces whose keys name a bucket: their entries move with the bucket's slot. */
export const MOVABLE_SPACES: readonly MovableSpace[] = [
  { tag: SPACE_SEQUENCE, kind: 'sequence' },
  { tag: SPACE_TOKEN, kind: 'token' },
  ...SERIES_BUCKET_SPACES.map((tag) => ({ tag, kind: 'verbatim' as const })),
  { tag: SPACE_SERIES_EXPIRY, kind: 'verbatim', bucketAt: 9 },
];

function spaceOf(key: Buffer): MovableSpace | undefined {
  return MOVABLE_SPACES.find((s) => s.tag === key[0]);
}

/**
 * Most bytes of one export: its base64 must fit one CLUSTER IMPORT request within the client
 * protocol's 64 KiB request limit (shared/protocol/limits.ts), with room for the other arguments.
 */
export const SLOT_DATA_BYTES_MAX = 40 * 1024;

/** The bucket of a key of a movable space, or null when the key is malformed or not one. */
export function bucketOfKey(key: Buffer): Buffer | null {
  const at = spaceOf(key)?.bucketAt ?? 1;
  if (key.length < at + 2) return null;
  const length = key.readUInt16BE(at);
  if (length < 1 || key.length < at + 2 + length) return null;
  return key.subarray(at + 2, at + 2 + length);
}

/**
 * Keys of one bucket outside the slots that a scan steps over before it seeks past the rest of
 * that bucket. A seek opens a new LMDB cursor: a few steps' worth of time, and in a write
 * transaction (the apply step) a new lmdb-js Cursor whose ~300 B of native memory is freed only
 * by a finalizer on a later turn of the event loop. So a scan holds at most ~18 B per key it
 * passes until its apply step ends (buckets of 17 keys, the worst case), and buckets of up to 16
 * keys are stepped as before.
 */
export const BUCKET_STEPS_BEFORE_SEEK = 16;

function* slotEntries(kv: KvReader, slots: SlotSet): Generator<KvEntry> {
  for (const space of MOVABLE_SPACES) yield* spaceSlotEntries(kv, space, slots);
}

/**
 * The entries of `slots` in one space, in key order, strictly after `after` when given. In the
 * spaces keyed `tag | lp(bucket) | ...` each bucket's keys are contiguous, so the rest of a
 * bucket outside `slots` is jumped with a seek: a move reads the buckets it moves plus up to 16
 * keys and a seek per other bucket, not the whole shard (which took ~1.5 s per million keys, in the
 * apply step of every replica, while all of the shard's writes waited).
 */
function* spaceSlotEntries(kv: KvReader, space: MovableSpace, slots: SlotSet, after?: Buffer): Generator<KvEntry> {
  const prefix = Buffer.of(space.tag);
  const seeks = (space.bucketAt ?? 1) === 1;
  let from = after;
  let current: Buffer | null = null;
  let moving = false;
  for (;;) {
    let past: Buffer | undefined;
    let stepped = 0;
    for (const entry of from !== undefined && from !== after ? scanFrom(kv, prefix, from) : kv.scan(prefix, from)) {
      const bucket = bucketOfKey(entry.key);
      if (bucket === null) continue;
      if (current === null || !current.equals(bucket)) {
        current = Buffer.from(bucket);
        moving = slots.has(slotOf(bucket));
        stepped = 0;
      }
      if (moving) {
        yield entry;
        continue;
      }
      if (seeks && ++stepped >= BUCKET_STEPS_BEFORE_SEEK) {
        past = prefixSuccessor(entry.key.subarray(0, 3 + bucket.length));
        break;
      }
    }
    if (past === undefined) return;
    from = past;
  }
}

/**
 * Keys with `prefix` from `from` on, `from` itself included. After a jump `from` may itself be
 * a key: `tag | lp(B')` with nothing after it (B' the skipped name with its last byte raised),
 * which no command writes but an import could carry, and which the plain filter returns.
 */
function* scanFrom(kv: KvReader, prefix: Buffer, from: Buffer): Generator<KvEntry> {
  const value = from.subarray(0, prefix.length).equals(prefix) ? kv.get(from) : undefined;
  if (value !== undefined) yield { key: from, value };
  yield* kv.scan(prefix, from);
}

/** The smallest byte string greater than every key that starts with `prefix` (its last byte below 0xff raised, what follows dropped). */
export function prefixSuccessor(prefix: Buffer): Buffer {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) throw new RangeError('no successor of an all-0xff prefix');
  const out = Buffer.from(prefix.subarray(0, end));
  out[end - 1]!++;
  return out;
}

/**
 * Every entry of `slots` plus the token fence, as a snapshot image (state-machine/snapshot.ts);
 * null when larger than `bytesMax` (the caller moves fewer slots at once).
 */
export function exportSlotData(kv: KvReader, slots: SlotSet, bytesMax = SLOT_DATA_BYTES_MAX): Buffer | null {
  const entries: KvEntry[] = [{ key: META.evictedTimedMaxMs, value: Buffer.from(kv.get(META.evictedTimedMaxMs) ?? Buffer.alloc(8)) }];
  let bytes = 0;
  for (const e of slotEntries(kv, slots)) {
    bytes += 6 + e.key.length + e.value.length;
    if (bytes > bytesMax) return null;
    entries.push({ key: Buffer.from(e.key), value: Buffer.from(e.value) });
  }
  return Buffer.concat([...encodeSnapshot(entries, 1 << 30)]);
}

/**
 * Validates an export against `slots` without writing: null when every entry belongs to a slot
 * of `slots` in a movable space, else why not. Deterministic (runs in the apply step).
 */
export function checkSlotData(data: Buffer, slots: SlotSet): string | null {
  try {
    for (const { key, value } of decodeSnapshot([data])) {
      if (key.equals(META.evictedTimedMaxMs)) {
        if (value.length !== 8) return 'bad token fence';
        continue;
      }
      const space = spaceOf(key);
      const bucket = bucketOfKey(key);
      if (space === undefined || bucket === null) return 'entry outside the movable spaces';
      if (!slots.has(slotOf(bucket))) return `entry of slot ${slotOf(bucket)}, not part of this import`;
      if (space.kind === 'sequence' && value.length !== 8) return 'bad sequence value';
    }
  } catch (err) {
    return (err as Error).message;
  }
  return null;
}

/** One page of a paged export (exportSlotPage). */
export interface SlotPage {
  /** Snapshot image: the token fence, then the page's entries in key order. */
  readonly data: Buffer;
  /** Entries in the page, the fence not counted. */
  readonly count: number;
  /** The last key in the page (the next page starts after it); `after` when the page is empty. */
  readonly last: Buffer;
  /** True when no entry of `slots` follows `last`. */
  readonly done: boolean;
}

/**
 * A page of `slots`' entries strictly after key `after` (empty: from the start), in bytewise key
 * order over the movable spaces, at most `bytesMax` bytes (always at least one entry). Frozen
 * slots gain no entries, so pages read in different apply steps never repeat or skip a key; a
 * token evicted between pages is simply missing, as if evicted before the export, and the fence
 * carried by every page (the target keeps the largest) covers it.
 */
export function exportSlotPage(kv: KvReader, slots: SlotSet, after: Buffer, bytesMax = SLOT_DATA_BYTES_MAX): SlotPage {
  const entries: KvEntry[] = [{ key: META.evictedTimedMaxMs, value: Buffer.from(kv.get(META.evictedTimedMaxMs) ?? Buffer.alloc(8)) }];
  let bytes = 0;
  let last = after;
  for (const e of slotEntriesAfter(kv, slots, after, SPACES_BY_TAG)) {
    const size = 6 + e.key.length + e.value.length;
    if (entries.length > 1 && bytes + size > bytesMax) return page(entries, last, false);
    bytes += size;
    last = Buffer.from(e.key);
    entries.push({ key: last, value: Buffer.from(e.value) });
  }
  return page(entries, last, true);
}

const SPACES_BY_TAG = [...MOVABLE_SPACES].sort((a, b) => a.tag - b.tag);

/**
 * The order a paged delete goes through the spaces: the series expiry index first. The expiry
 * sweep (state-machine/series.ts) skips due entries of buckets not owned only up to a bound, so
 * entries of a released slot left behind (a release ended early by a member rolled back to an
 * older build, or an older coordinator's RELEASE after a first page) would hold it up for good;
 * gone first, they are left behind only if the release ends within its first 2,048 of them.
 */
const RELEASE_ORDER = [...MOVABLE_SPACES.filter((s) => s.tag === SPACE_SERIES_EXPIRY), ...SPACES_BY_TAG.filter((s) => s.tag !== SPACE_SERIES_EXPIRY)];

/**
 * The entries of `slots` strictly after key `after` (empty: from the start), space by space in
 * `order`, in bytewise key order within a space. `after` names its space by its first byte.
 */
function* slotEntriesAfter(kv: KvReader, slots: SlotSet, after: Buffer, order: readonly MovableSpace[]): Generator<KvEntry> {
  const at = after.length === 0 ? -1 : order.findIndex((space) => space.tag === after[0]);
  // A cursor in no movable space (not one a page answered): the spaces of larger tags, whole.
  const from = after.length === 0 ? 0 : at >= 0 ? at : order.findIndex((space) => space.tag > after[0]!);
  if (from < 0) return;
  for (let i = from; i < order.length; i++) {
    // From the cursor on (a seek), not from the start of the space: a review measured moves of
    // seconds per page at 100,000 tokens when every page stepped over the keys before it.
    yield* spaceSlotEntries(kv, order[i]!, slots, i === at ? after : undefined);
  }
}

function page(entries: KvEntry[], last: Buffer, done: boolean): SlotPage {
  return { data: Buffer.concat([...encodeSnapshot(entries, 1 << 30)]), count: entries.length - 1, last, done };
}

/** The entries of a checked export, the fence not counted, and its last key (null when none). */
export function slotDataSummary(data: Buffer): { count: number; last: Buffer | null } {
  let count = 0;
  let last: Buffer | null = null;
  for (const { key } of decodeSnapshot([data])) {
    if (key.equals(META.evictedTimedMaxMs)) continue;
    count++;
    last = Buffer.from(key);
  }
  return { count, last };
}

/** Installs the entries of `slots` from a checked export (replacing what these slots held here). */
export function importSlotData(txn: KvTxn, slots: SlotSet, data: Buffer): void {
  deleteSlotData(txn, slots);
  installSlotData(txn, slots, data);
}

/** Installs the entries of `slots` from a checked export over what is there (one page of several). */
export function installSlotData(txn: KvTxn, slots: SlotSet, data: Buffer): void {
  for (const { key, value } of decodeSnapshot([data])) {
    if (key.equals(META.evictedTimedMaxMs)) {
      if (value.readBigUInt64BE(0) > getMeta(txn, 'evictedTimedMaxMs')) setMeta(txn, 'evictedTimedMaxMs', value.readBigUInt64BE(0));
      continue;
    }
    if (!slots.has(slotOf(bucketOfKey(key)!))) continue;
    const kind = spaceOf(key)!.kind;
    if (kind === 'token') {
      adoptTokenRecord(txn, key, value);
      continue;
    }
    if (kind === 'sequence' && txn.get(key) === undefined) addMeta(txn, 'sequences', 1n);
    txn.put(key, value);
  }
}

/** Deletes every entry of `slots` (the source after the move, or stale leftovers). */
export function deleteSlotData(txn: KvTxn, slots: SlotSet): number {
  // Collect first: no writes while a scan is open.
  const doomed = [...slotEntries(txn, slots)].map((e) => Buffer.from(e.key));
  for (const key of doomed) deleteSlotEntry(txn, key);
  return doomed.length;
}

/** One page of a paged delete (deleteSlotPage). */
export interface DeletedPage {
  /** Entries deleted. */
  readonly count: number;
  /** The last key deleted (the next page starts after it); `after` when none was. */
  readonly last: Buffer;
  /** True when no entry of `slots` is left after `last`. */
  readonly done: boolean;
}

/**
 * Deletes at most `keysMax` entries of `slots` after cursor `after` (empty: from the start),
 * the series expiry index first (RELEASE_ORDER), then as exportSlotPage reads them.
 * Deterministic (an apply step): the same state, cursor and bound delete the same keys on every
 * replica.
 */
export function deleteSlotPage(txn: KvTxn, slots: SlotSet, after: Buffer, keysMax: number): DeletedPage {
  const doomed: Buffer[] = [];
  let done = true;
  // Collect first: no writes while a scan is open.
  for (const e of slotEntriesAfter(txn, slots, after, RELEASE_ORDER)) {
    if (doomed.length === keysMax) {
      done = false;
      break;
    }
    doomed.push(Buffer.from(e.key));
  }
  for (const key of doomed) deleteSlotEntry(txn, key);
  return { count: doomed.length, last: doomed.at(-1) ?? after, done };
}

function deleteSlotEntry(txn: KvTxn, key: Buffer): void {
  const kind = spaceOf(key)!.kind;
  if (kind === 'token') {
    forgetTokenRecord(txn, key);
    return;
  }
  if (kind === 'sequence') addMeta(txn, 'sequences', -1n);
  txn.remove(key);
}
