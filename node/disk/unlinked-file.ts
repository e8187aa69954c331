/**
 * Scratch files that hold bulk data out of the heap (a received snapshot image, an export for
 * `seqdb backup`): opened, then unlinked at once, so the data lives only while the descriptor is
 * open and a crash leaves nothing behind but the rare file caught between open and unlink, which
 * `sweepScratch` removes.
 */
import { openSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** A new read-write file at `path`, already unlinked. */
export function openUnlinked(path: string): number {
  const fd = openSync(path, 'w+');
  // force: a sweep of a shared directory (tmpdir) by another process may have removed it already.
  rmSync(path, { force: true });
  return fd;
}

/** Removes the files of `dir` whose names start with `prefix` (left by a crash). */
export function sweepScratch(dir: string, prefix: string): void {
  for (const f of readdirSync(dir)) if (f.startsWith(prefix)) rmSync(join(dir, f), { force: true });
}

/** Writes all of `bytes` at `position` (writeSync may write less than asked). */
export function writeAllAt(fd: number, bytes: Uint8Array, position: number): void {
  for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at, position + at);
}

/** Fills `into` from `position`; throws where the file ends first. */
export function readAllAt(fd: number, into: Uint8Array, position: number): void {
  for (let got = 0; got < into.length;) {
    const n = readSync(fd, into, got, into.length - got, position + got);
    if (n === 0) throw new Error(`scratch file ends at ${position + got} bytes`);
    got += n;
  }
}
