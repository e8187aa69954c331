/**
 * The backup file: `SEQDBBK1\n`, one JSON manifest line, then each shard's snapshot image
 * (node/state-machine/snapshot.ts format) back to back, in manifest order. Each image carries
 * its own applied index; the manifest repeats it with the byte count and a SHA-256.
 */
import { createHash } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
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

/** An image read from elsewhere as it is written (`seqdb backup`: fetched-images.ts), never whole. */
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

/** Bytes read at most for the magic and manifest line (a manifest lists a few shards). */
const HEAD_BYTES_MAX = 1 << 20;

/** A backup file opened for reading: its manifest, and its images one at a time. */
export interface BackupReader {
  readonly manifest: BackupManifest;
  /** Image `i` of the manifest, read whole and checked against it (size and SHA-256). */
  image(i: number): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * Opens a backup file and checks its frame (magic, manifest, that the file is exactly the
 * manifest's images long) without reading the images: a restore then holds one image at a time,
 * not the file (readFile also stops at 2 GiB).
 */
export async function openBackupFile(path: string): Promise<BackupReader> {
  const bad = (why: string): SeqError => new SeqError(ErrorCode.SYNTAX, `${path}: not a SeqDB backup (${why})`);
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    const head = Buffer.alloc(Math.min(size, HEAD_BYTES_MAX));
    await readFully(file, head, 0);
    if (head.subarray(0, BACKUP_MAGIC.length).toString('latin1') !== BACKUP_MAGIC) throw bad('bad magic');
    const nl = head.indexOf(0x0a, BACKUP_MAGIC.length);
    if (nl < 0) throw bad('no manifest');
    let manifest: BackupManifest;
    try {
      manifest = JSON.parse(head.subarray(BACKUP_MAGIC.length, nl).toString('utf8')) as BackupManifest;
    } catch {
      throw bad('manifest is not JSON');
    }
    if (manifest.version !== 1 || !Array.isArray(manifest.shards)) throw bad('unknown version');
    const offsets: number[] = [];
    let at = nl + 1;
    for (const meta of manifest.shards) {
      if (!Number.isSafeInteger(meta.bytes) || meta.bytes < 0) throw bad(`shard ${meta.shard} has no image size`);
      offsets.push(at);
      at += meta.bytes;
    }
    if (at > size) throw bad(`an image is damaged (the file ends at ${size} of ${at} bytes)`);
    if (at < size) throw bad('trailing bytes');
    return {
      manifest,
      image: async (i) => {
        const meta = manifest.shards[i]!;
        const image = Buffer.allocUnsafe(meta.bytes);
        await readFully(file, image, offsets[i]!);
        if (sha256(image) !== meta.sha256) throw bad(`shard ${meta.shard} image is damaged`);
        return image;
      },
      close: () => file.close(),
    };
  } catch (err) {
    await file.close();
    throw err;
  }
}

async function readFully(file: FileHandle, into: Buffer, position: number): Promise<void> {
  for (let got = 0; got < into.length;) {
    const { bytesRead } = await file.read(into, got, into.length - got, position + got);
    if (bytesRead === 0) throw new Error(`short read at ${position + got}`);
    got += bytesRead;
  }
}

/** The whole file at once (tests, small backups): every image read and checked. */
export async function readBackupFile(path: string): Promise<{ manifest: BackupManifest; images: ShardImage[] }> {
  const backup = await openBackupFile(path);
  try {
    const images: ShardImage[] = [];
    for (const [i, meta] of backup.manifest.shards.entries()) images.push({ meta, image: await backup.image(i) });
    return { manifest: backup.manifest, images };
  } finally {
    await backup.close();
  }
}
