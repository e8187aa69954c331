/**
 * Small disks for tests: a tmpfs mounted in a process's own mount namespace (`unshare -m`), so
 * nothing leaks to the host. Needs root, as CI has; `canMountTmpfs()` says whether to skip.
 * The test reaches the files of such a process through `/proc/<pid>/root<path>`.
 */
import { spawnSync } from 'node:child_process';
import { rmSync, statfsSync, writeFileSync } from 'node:fs';

export function canMountTmpfs(): boolean {
  const r = spawnSync('unshare', ['-m', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs $d && umount $d && rmdir $d'], { timeout: 5000 });
  return r.status === 0;
}

/** `path` as process `pid` sees it (inside its mount namespace). */
export function inNamespaceOf(pid: number, path: string): string {
  return `/proc/${pid}/root${path}`;
}

/** Free bytes of the file system holding `path` (as seen by `pid`). */
export function freeBytes(pid: number, path: string): number {
  const s = statfsSync(inNamespaceOf(pid, path));
  return s.bavail * s.bsize;
}

/** Writes a filler file into `dir` (as seen by `pid`) leaving about `leaveBytes` free; returns its path. */
export function fillLeaving(pid: number, dir: string, leaveBytes: number): string {
  const file = inNamespaceOf(pid, `${dir}/filler`);
  const size = freeBytes(pid, dir) - leaveBytes;
  if (size > 0) writeFileSync(file, Buffer.alloc(size));
  return file;
}

export function removeFiller(file: string): void {
  rmSync(file, { force: true });
}
