/**
 * Small files that must survive a crash whole: written beside their place, synced, renamed over
 * it, and the rename made durable by syncing the directory. A write that fails (a disk error)
 * leaves the old file as it was, never an empty or half-written one.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** A rename, create or delete in `dir` is durable once the directory itself is synced. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `path` with `text` whole (see above); `mode` for a new file (e.g. 0o600 for secrets). */
export function writeFileDurably(path: string, text: string, mode?: number): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { flush: true, ...(mode !== undefined ? { mode } : {}) });
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}
