/**
 * A write-and-sync probe before a NEW LMDB environment is created in `dir`: lmdb-js dies by
 * SIGSEGV inside open() when the first write of a new environment fails (a disk returning EIO),
 * with no message and the data dir's LOCK left behind (a review). The probe turns a failing disk
 * into a STORAGE error that says so. An existing environment (a non-empty data.mdb) opens
 * without writing, so it is not probed.
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SeqError } from '../../shared/errors.ts';

export function probeNewLmdbDir(dir: string): void {
  // An EMPTY data.mdb (an open killed right after creating it) is a new environment to LMDB too.
  try {
    if (statSync(join(dir, 'data.mdb')).size > 0) return;
  } catch {
    // none yet
  }
  const probe = join(dir, `write-probe-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(probe, 'probe', { flush: true });
  } catch (err) {
    throw new SeqError(ErrorCode.STORAGE, `cannot write to ${dir}: ${(err as Error).message}`);
  } finally {
    rmSync(probe, { force: true });
  }
}
