/**
 * `seqdb restore`: turns a backup file into a data directory that `seqdb dev --data DIR` (a
 * single node) or `seqdb node --data DIR` (the first node of a new shard: it bootstraps from
 * this state and ships it to the others in its first snapshot) starts from.
 *
 * The images of the chosen shards are merged into ONE standalone state: sequences verbatim (a
 * bucket lives on one shard; where shards exported on either side of a slot move both hold it,
 * the current owner's copy, image-ownership.ts), issue 12's series audit trail verbatim
 * (bucket-keyed, plus an expiry index keyed by time then bucket: no collisions either),
 * exactly-once tokens re-numbered into one eviction order, the state clock and eviction fence at their maxima, the applied index at 0 (a
 * new Raft history begins), and ownership/catalog records dropped (the restored state owns
 * every bucket). Refuses a directory that already holds data.
 *
 * Written under the data dir's lock (a node starting on the dir meanwhile is refused, or refuses
 * the restore) into `lmdb-restoring`, renamed to `lmdb` only once every image is in: a restore
 * killed halfway (ENOSPC, Ctrl-C) left a state with some shards' sequences missing that looked
 * complete, and a node started on it handed those shards' numbers out again (a review). Nodes
 * refuse a dir holding `lmdb-restoring` (refuseUnfinishedRestore).
 */
import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { decodeSnapshot, LmdbStore, type KvEntry } from '../state-machine/index.ts';
import { META, SPACE_META, SPACE_SEQUENCE, SPACE_TOKEN, SPACE_TOKEN_HELD, SPACE_TOKEN_ORDER, readU64 } from '../state-machine/keys.ts';
import { getMeta, setMeta } from '../state-machine/meta.ts';
import { adoptTokenRecord } from '../state-machine/tokens.ts';
import { refuseTokenRulesVersion } from '../state-machine/token-options.ts';
import { SERIES_SPACES } from '../state-machine/series-keys.ts';
import { openBackupFile, type BackupManifest, type BackupReader, type ShardImageMeta } from './backup-file.ts';
import { entryCounts, imageOwnership, slotOwners } from './image-ownership.ts';
import { lockDataDir } from '../disk/data-dir-lock.ts';
import { fsyncDir } from '../../shared/durable-file.ts';

/** Where a restore writes the state until it is complete. */
const RESTORING = 'lmdb-restoring';

/** Throws if `dataDir` holds a restore that did not finish: its state lacks data it should have. */
export function refuseUnfinishedRestore(dataDir: string): void {
  if (!existsSync(join(dataDir, RESTORING))) return;
  throw new SeqError(ErrorCode.STORAGE, `${dataDir} holds a restore that did not finish (${RESTORING}): its state may lack sequences. Remove the directory and run seqdb restore again`);
}

export interface RestoreOptions {
  readonly in: string;
  readonly dataDir: string;
  /** Only these shards (default: all in the file). */
  readonly shards?: readonly string[];
}

export interface RestoreSummary {
  readonly manifest: BackupManifest;
  readonly shards: readonly string[];
  readonly sequences: number;
  readonly tokens: number;
  /** Records of the series audit trail copied (series-keys.ts SERIES_SPACES). */
  readonly seriesRecords: number;
}

export async function restore(o: RestoreOptions): Promise<RestoreSummary> {
  let sequences = 0;
  let tokens = 0;
  let seriesRecords = 0;
  const backup = await openBackupFile(o.in);
  const { manifest } = backup;
  const chosen = manifest.shards.map((meta, i) => ({ meta, i })).filter(({ meta }) => o.shards === undefined || o.shards.includes(meta.shard));
  try {
    if (chosen.length === 0) throw new SeqError(ErrorCode.SYNTAX, `no such shard in ${o.in} (it has ${manifest.shards.map((m) => m.shard).join(', ')})`);
    if (existsSync(o.dataDir) && readdirSync(o.dataDir).length > 0) {
      throw new SeqError(ErrorCode.IDENTITY_MISMATCH, `${o.dataDir} is not empty: restore only into a new data directory`);
    }
    const dirLock = lockDataDir(o.dataDir);
    try {
      // Taken after the check: a node that started on the dir in between left more than our LOCK.
      if (readdirSync(o.dataDir).some((f) => f !== 'LOCK')) {
        throw new SeqError(ErrorCode.IDENTITY_MISMATCH, `${o.dataDir} is not empty: restore only into a new data directory`);
      }
      const owners = await checkImages(backup, chosen, o.in);
      const partial = join(o.dataDir, RESTORING);
      mkdirSync(partial, { recursive: true });
      const store = LmdbStore.open({ path: partial });
      try {
        for (const [index, { i }] of chosen.entries()) {
          // One image in memory at a time (read again: checkImages let go of it).
          const entries = [...decodeSnapshot([await backup.image(i)])].filter((e) => entryCounts(e.key, index, owners));
          const r = await store.write((txn) => mergeImage(txn, entries));
          sequences += r.sequences;
          tokens += r.tokens;
          seriesRecords += r.seriesRecords;
        }
      } finally {
        await store.close();
      }
      renameSync(partial, join(o.dataDir, 'lmdb'));
      fsyncDir(o.dataDir);
    } finally {
      dirLock.release();
    }
  } finally {
    await backup.close();
  }
  return { manifest, shards: chosen.map(({ meta }) => meta.shard), sequences, tokens, seriesRecords };
}

/**
 * Reads every chosen image once, before anything is written: its checksum, its token rules, and
 * the slots it owns. Shards exported on either side of a slot move can both hold a bucket: only
 * the copy of the slot's current owner counts (image-ownership.ts), never whichever came last.
 */
async function checkImages(backup: BackupReader, chosen: readonly { meta: ShardImageMeta; i: number }[], file: string): Promise<ReturnType<typeof slotOwners>> {
  const ownerships = [];
  for (const { meta, i } of chosen) {
    const image = await backup.image(i);
    refuseNewerImageRules(image, `${file} (shard ${meta.shard})`);
    ownerships.push(imageOwnership([image]));
  }
  return slotOwners(ownerships);
}

type Txn = Parameters<Parameters<LmdbStore['write']>[0]>[0];

function mergeImage(txn: Txn, entries: readonly KvEntry[]): { sequences: number; tokens: number; seriesRecords: number } {
  const byKey = new Map(entries.map((e) => [e.key.toString('latin1'), e.value]));
  let sequences = 0;
  let tokens = 0;
  let seriesRecords = 0;
  for (const { key, value } of entries) {
    if (key[0] === SPACE_SEQUENCE) {
      if (txn.get(key) === undefined) sequences++;
      txn.put(key, value);
    } else if (SERIES_SPACES.includes(key[0]!)) {
      // Without the trail a restored series could not account for its numbers (issue 12).
      txn.put(key, value);
      seriesRecords++;
    }
  }
  // Token order entries are in key (= serial) order: adopt oldest first, keeping eviction order.
  // Tokens held off the order (token rules 2: due for eviction while recent) are older than any
  // in it: first. Adopted into the order, they are held again if they come due while recent.
  const tokenEntries = [...entries.filter((e) => e.key[0] === SPACE_TOKEN_HELD), ...entries.filter((e) => e.key[0] === SPACE_TOKEN_ORDER)];
  for (const { value: tokenKey } of tokenEntries) {
    const record = byKey.get(tokenKey.toString('latin1'));
    if (record === undefined || tokenKey[0] !== SPACE_TOKEN) continue;
    adoptTokenRecord(txn, tokenKey, record);
    tokens++;
  }
  setMeta(txn, 'sequences', getMeta(txn, 'sequences') + BigInt(sequences));
  const meta = (k: Buffer): bigint => readU64(byKey.get(k.toString('latin1')));
  for (const name of ['clockMs', 'evictedTimedMaxMs', 'tokenRules'] as const) {
    const v = meta(META[name]);
    if (v > getMeta(txn, name)) setMeta(txn, name, v);
  }
  return { sequences, tokens, seriesRecords };
}

/**
 * A backup of a shard at newer token rules than this build is refused before anything is
 * written: restored, its tokens would be evicted by older rules (and the merged state carries the
 * version, so a node of this build would refuse it at start anyway, after a finished restore).
 */
function refuseNewerImageRules(image: Uint8Array, where: string): void {
  for (const { key, value } of decodeSnapshot([image])) {
    if (key[0] !== SPACE_META) return; // meta keys sort first
    if (key.equals(META.tokenRules)) return refuseTokenRulesVersion(Number(readU64(value)), where);
  }
}
