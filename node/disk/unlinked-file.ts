/**
 * Scratch files that hold bulk data out of the heap (a received snapshot image, an export for
 * `seqdb backup`, the images a backup fetched): opened, then unlinked at once, so the data lives
 * only while the descriptor is open and a crash leaves nothing behind but the rare file caught
 * between open and unlink, which `sweepScratch` removes.
 */
import { closeSync, openSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class ScratchFile {
  private isOpen = true;

  private constructor(private readonly fd: number) {}

  /** A new read-write file at `path`, already unlinked. */
  static create(path: string): ScratchFile {
    const fd = openSync(path, 'w+');
    // force: a sweep of a shared directory (tmpdir) by another process may have removed it already.
    rmSync(path, { force: true });
    return new ScratchFile(fd);
  }

  get open(): boolean {
    return this.isOpen;
  }

  /** Writes all of `bytes` at `position` (writeSync may write less than asked). */
  write(bytes: Uint8Array, position: number): void {
    this.assertOpen();
    for (let at = 0; at < bytes.length;) at += writeSync(this.fd, bytes, at, bytes.length - at, position + at);
  }

  /** Fills `into` from `position`; throws where the file ends first. */
  readInto(into: Uint8Array, position: number): void {
    this.assertOpen();
    for (let got = 0; got < into.length;) {
      const n = readSync(this.fd, into, got, into.length - got, position + got);
      if (n === 0) throw new Error(`scratch file ends at ${position + got} bytes`);
      got += n;
    }
  }

  /** `length` bytes from `position`, in a new Buffer. */
  read(position: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    this.readInto(out, position);
    return out;
  }

  /** Closes it (again: a no-op); its data is gone. */
  close(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    closeSync(this.fd);
  }

  /** A closed descriptor's number may already belong to another file, whose bytes must never pass for ours. */
  private assertOpen(): void {
    if (!this.isOpen) throw new Error('scratch file already closed');
  }
}

/** Removes the files of `dir` whose names start with `prefix` (left by a crash). */
export function sweepScratch(dir: string, prefix: string): void {
  for (const f of readdirSync(dir)) if (f.startsWith(prefix)) rmSync(join(dir, f), { force: true });
}
