/**
 * One process per data dir. A second `seqdb node` or `seqdb dev` started on a live node's dir
 * (a restart that did not wait for the old process) opened its LMDB environment and Raft log
 * before failing to bind the port, shrank the live `data.mdb` and cut the live log segment; the
 * live node then died by SIGBUS (a review). So the dir is locked before anything in it is opened:
 * a `LOCK` file holding the owner's pid, created exclusively. A lock whose process is gone (kill
 * -9, a crash, a reboot) is taken over; one held by this very pid is ours from an earlier life
 * (a container restarted with the same pid).
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SeqError } from '../../shared/errors.ts';

export interface DataDirLock {
  /** Removes the lock file (if still ours). */
  release(): void;
}

export function lockDataDir(dir: string): DataDirLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return { release: () => releaseIfOurs(path) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = ownerOf(path);
    if (owner !== null && owner !== process.pid && alive(owner)) {
      throw new SeqError(ErrorCode.DATA_DIR_IN_USE, `data dir ${dir} is in use by process ${owner} (${path}); stop it first (if no seqdb process uses it, remove the file)`);
    }
    try {
      unlinkSync(path); // stale: its process is gone
    } catch {
      // another starter took it over first: try again
    }
  }
  throw new SeqError(ErrorCode.DATA_DIR_IN_USE, `data dir ${dir}: could not take ${path}`);
}

function ownerOf(path: string): number | null {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseIfOurs(path: string): void {
  if (ownerOf(path) !== process.pid) return;
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}
