/**
 * Where SEQDB.EXPORT keeps an image while `seqdb backup` fetches it chunk by chunk: a file, not
 * memory. Held in the heap, an export of a 1M-sequence state was ~47 MB on the leader (joined
 * from its chunks: ~94 MB while it was made), two exports at once twice that, and nothing bounded
 * it by size. The file is unlinked as soon as it is open, so a crash leaves nothing behind; it
 * goes when the export is fully read, evicted or idle (Exporter).
 */
import { closeSync, mkdirSync, openSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const PREFIX = 'export-image-';
let made = 0;

/** Removes export files a crash left between open and unlink (once per directory and process). */
const swept = new Set<string>();
function sweep(dir: string): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  for (const f of readdirSync(dir)) if (f.startsWith(PREFIX)) rmSync(join(dir, f), { force: true });
}

export class ExportFile {
  private open = true;

  private constructor(private readonly fd: number, readonly bytes: number) {}

  /** Writes `chunks` (which may reuse one buffer) into a new unlinked file in `dir`. */
  static write(dir: string, chunks: Iterable<Uint8Array>): ExportFile {
    mkdirSync(dir, { recursive: true });
    sweep(dir);
    const path = join(dir, `${PREFIX}${process.pid}-${made++}`);
    const fd = openSync(path, 'w+');
    // force: another process's sweep of a shared directory (tmpdir) may have removed it already.
    rmSync(path, { force: true });
    let bytes = 0;
    try {
      for (const chunk of chunks) {
        for (let at = 0; at < chunk.length;) at += writeSync(fd, chunk, at, chunk.length - at, bytes + at);
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
    for (let got = 0; got < out.length;) {
      const n = readSync(this.fd, out, got, out.length - got, offset + got);
      if (n === 0) throw new Error(`export image ends at ${offset + got} of ${this.bytes} bytes`);
      got += n;
    }
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
