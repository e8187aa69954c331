/**
 * Where `seqdb backup` keeps the shard images it fetched until it writes its file: one unlinked
 * file beside the output, not memory. Held in memory, a backup cost its process every image of
 * the cluster at once, plus a joined copy of each.
 */
import { createHash } from 'node:crypto';
import { ScratchFile } from '../disk/unlinked-file.ts';

const READ_CHUNK_BYTES = 1 << 20;

/** One image being fetched: its bytes as they come, then its size, hash and a way to read it. */
export interface ImageWriter {
  append(chunk: Uint8Array): void;
  finish(): FetchedImage;
}

export interface FetchedImage {
  readonly bytes: number;
  readonly sha256: string;
  /** The image in chunks of fresh buffers (a reader may keep them). */
  chunks(): Iterable<Uint8Array>;
}

export class FetchedImages {
  /** Where the last finished image ends: a fetch that failed part way is overwritten by the next. */
  private end = 0;

  private constructor(private readonly file: ScratchFile) {}

  /** A new store beside `outPath` (same directory, so the same file system as the backup). */
  static beside(outPath: string): FetchedImages {
    return new FetchedImages(ScratchFile.create(`${outPath}.images-${process.pid}`));
  }

  /** Starts an image after the last finished one. */
  begin(): ImageWriter {
    const start = this.end;
    const hash = createHash('sha256');
    let bytes = 0;
    return {
      append: (chunk) => {
        this.file.write(chunk, start + bytes);
        hash.update(chunk);
        bytes += chunk.length;
      },
      finish: () => {
        this.end = start + bytes;
        return { bytes, sha256: hash.digest('hex'), chunks: () => this.read(start, bytes) };
      },
    };
  }

  close(): void {
    this.file.close();
  }

  private *read(start: number, bytes: number): Generator<Uint8Array> {
    for (let at = 0; at < bytes; at += READ_CHUNK_BYTES) yield this.file.read(start + at, Math.min(READ_CHUNK_BYTES, bytes - at));
  }
}
