/**
 * Where SEQDB.EXPORT keeps an image while `seqdb backup` fetches it chunk by chunk: a file, not
 * memory. Held in the heap, an export of a 1M-sequence state was ~47 MB on the leader (joined
 * from its chunks: ~94 MB while it was made), two exports at once twice that, and nothing bounded
 * it by size. The file is unlinked as soon as it is open, so a crash leaves nothing behind; it
 * goes when the export is fully read, evicted or idle (Exporter).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ScratchFile, sweepScratch } from '../disk/unlinked-file.ts';
import { nextTurn } from '../../shared/next-turn.ts';

const PREFIX = 'export-image-';
let made = 0;

/** Directories swept of files a crash left between open and unlink (once per process). */
const swept = new Set<string>();

export class ExportFile {
  private constructor(private readonly file: ScratchFile, readonly bytes: number) {}

  /**
   * Writes `chunks` (which may reuse one buffer) into a new unlinked file in `dir`, one chunk per
   * turn of the event loop: written in one turn, a 1M-sequence image held a leader's loop for
   * ~0.55 s, more than the shortest election timeout (0.5 s; bench/README.md, thirtieth round).
   * The first chunk is taken before this returns its promise, so a generator that opens its read
   * transaction there (LmdbStore.exportSnapshot) is pinned at the state of the call. Fails once
   * `stopped()`.
   */
  static async write(dir: string, chunks: Iterable<Uint8Array>, stopped: () => boolean = () => false): Promise<ExportFile> {
    mkdirSync(dir, { recursive: true });
    if (!swept.has(dir)) sweepScratch(dir, PREFIX);
    swept.add(dir);
    const file = ScratchFile.create(join(dir, `${PREFIX}${process.pid}-${made++}`));
    let bytes = 0;
    try {
      for (const chunk of chunks) {
        file.write(chunk, bytes);
        bytes += chunk.length;
        await nextTurn();
        if (stopped()) throw new Error('export stopped: the node is closing');
      }
      // A generator ended from outside (Exporter.close) just stops yielding: not a whole image.
      if (stopped()) throw new Error('export stopped: the node is closing');
    } catch (err) {
      file.close();
      throw err;
    }
    return new ExportFile(file, bytes);
  }

  /** `length` bytes from `offset` (cut at the end of the image), in a new Buffer. */
  read(offset: number, length: number): Buffer {
    return this.file.read(offset, Math.max(0, Math.min(length, this.bytes - offset)));
  }

  /** The image from the start, `chunkBytes` at a time (read lazily: stop early to read less). */
  *chunks(chunkBytes: number): Generator<Buffer> {
    for (let at = 0; at < this.bytes; at += chunkBytes) yield this.read(at, chunkBytes);
  }

  close(): void {
    this.file.close();
  }
}
