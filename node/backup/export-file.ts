/**
 * Where SEQDB.EXPORT keeps an image while `seqdb backup` fetches it chunk by chunk: a file, not
 * memory. Held in the heap, an export of a 1M-sequence state was ~47 MB on the leader (joined
 * from its chunks: ~94 MB while it was made), two exports at once twice that, and nothing bounded
 * it by size. The file is unlinked as soon as it is open, so a crash leaves nothing behind; it
 * goes when the export is fully read, evicted or idle (Exporter).
 */
import { closeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openUnlinked, readAllAt, sweepScratch, writeAllAt } from '../disk/unlinked-file.ts';

const PREFIX = 'export-image-';
let made = 0;

/** Directories swept of files a crash left between open and unlink (once per process). */
const swept = new Set<string>();

export class ExportFile {
  private open = true;

  private constructor(private readonly fd: number, readonly bytes: number) {}

  /** Writes `chunks` (which may reuse one buffer) into a new unlinked file in `dir`. */
  static write(dir: string, chunks: Iterable<Uint8Array>): ExportFile {
    mkdirSync(dir, { recursive: true });
    if (!swept.has(dir)) sweepScratch(dir, PREFIX);
    swept.add(dir);
    const fd = openUnlinked(join(dir, `${PREFIX}${process.pid}-${made++}`));
    let bytes = 0;
    try {
      for (const chunk of chunks) {
        writeAllAt(fd, chunk, bytes);
        bytes += chunk.length;
      }
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return new ExportFile(fd, bytes);
  }

  /** `length` bytes from `offset` (cut at the end of the image), in a new Buffer. */
  read(offset: number, length: number): Buffer {
    if (!this.open) throw new Error('export image already closed');
    const out = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.bytes - offset)));
    readAllAt(this.fd, out, offset);
    return out;
  }

  /** The image from the start, `chunkBytes` at a time (read lazily: stop early to read less). */
  *chunks(chunkBytes: number): Generator<Buffer> {
    for (let at = 0; at < this.bytes; at += chunkBytes) yield this.read(at, chunkBytes);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    closeSync(this.fd);
  }
}
