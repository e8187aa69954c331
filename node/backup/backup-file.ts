/**
 * The backup file: `SEQDBBK1\n`, one JSON manifest line, then each shard's snapshot image
 * (node/state-machine/snapshot.ts format) back to back, in manifest order. Each image carries
 * its own applied index; the manifest repeats it with the byte count and a SHA-256.
 */
import { createHash } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { ErrorCode, SeqError } from '../../shared/errors.ts';

export const BACKUP_MAGIC = 'SEQDBBK1\n';

export interface ShardImageMeta {
  readonly shard: string;
  /** Committed index the image is as of (0 for a single node). */
  readonly index: number;
  readonly bytes: number;
  readonly sha256: string;
  /** Where it was taken from (node address). */
  readonly from: string;
}

export interface BackupManifest {
  readonly version: 1;
  readonly createdAt: string;
  /** 'router', 'shard' or 'single': what --router pointed at. */
  readonly source: string;
  readonly shards: readonly ShardImageMeta[];
}

export interface ShardImage {
  readonly meta: ShardImageMeta;
  readonly image: Buffer;
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** An image read from elsewhere as it is written (`seqdb backup`: its spool file), never whole. */
export interface ShardImageStream {
  readonly meta: ShardImageMeta;
  chunks(): Iterable<Uint8Array>;
}

/**
 * Writes the file atomically (temp file + rename): a crash never leaves half a backup under
 * `path`. Images are written chunk by chunk as their sources give them.
 */
export async function writeBackupFile(path: string, source: string, images: readonly (ShardImage | ShardImageStream)[]): Promise<BackupManifest> {
  const manifest: BackupManifest = { version: 1, createdAt: new Date().toISOString(), source, shards: images.map((i) => i.meta) };
  const tmp = `${path}.tmp-${process.pid}`;
  const file = await open(tmp, 'w');
  try {
    await file.write(Buffer.from(BACKUP_MAGIC + JSON.stringify(manifest) + '\n'));
    for (const i of images) {
      let bytes = 0;
      for (const chunk of 'image' in i ? [i.image] : i.chunks()) {
        await file.write(chunk);
        bytes += chunk.length;
      }
      if (bytes !== i.meta.bytes) throw new Error(`shard ${i.meta.shard}: ${bytes} image bytes, not ${i.meta.bytes}`);
    }
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await file.close();
  await rename(tmp, path);
  return manifest;
}

export async function readBackupFile(path: string): Promise<{ manifest: BackupManifest; images: ShardImage[] }> {
  const bytes = await readFile(path);
  const bad = (why: string): SeqError => new SeqError(ErrorCode.SYNTAX, `${path}: not a SeqDB backup (${why})`);
  if (bytes.subarray(0, BACKUP_MAGIC.length).toString('latin1') !== BACKUP_MAGIC) throw bad('bad magic');
  const nl = bytes.indexOf(0x0a, BACKUP_MAGIC.length);
  if (nl < 0) throw bad('no manifest');
  const manifest = JSON.parse(bytes.subarray(BACKUP_MAGIC.length, nl).toString('utf8')) as BackupManifest;
  if (manifest.version !== 1 || !Array.isArray(manifest.shards)) throw bad('unknown version');
  let at = nl + 1;
  const images = manifest.shards.map((meta) => {
    const image = bytes.subarray(at, at + meta.bytes);
    at += meta.bytes;
    if (image.length !== meta.bytes || sha256(image) !== meta.sha256) throw bad(`shard ${meta.shard} image is damaged`);
    return { meta, image };
  });
  if (at !== bytes.length) throw bad('trailing bytes');
  return { manifest, images };
}
