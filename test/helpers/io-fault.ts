/**
 * A disk that fails on command, for real processes: io-fault.c built once with the system's C
 * compiler and loaded with LD_PRELOAD. While armed, write and sync (or read) calls on the process's
 * files whose path contains `match` fail with EIO; disarmed, the disk is healthy again. Tests skip
 * (with a note) where no C compiler is installed; CI installs one (.ci/run).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preloadLibrary } from './preload-lib.ts';

/** The built library's path, or null when it cannot be built here (no C compiler). */
export function ioFaultLibrary(): string | null {
  return preloadLibrary(fileURLToPath(new URL('./io-fault.c', import.meta.url)));
}

export interface IoFault {
  /** Environment for the process to be faulted (spawn it with this merged in). */
  readonly env: Record<string, string>;
  /** From now on its matching calls fail with EIO (or, stalling, block; tearing, tear a write). */
  arm(): void;
  /** The disk works again (a failed process needs a restart to use it; stalled calls go on). */
  heal(): void;
  /** What a 'tear' fault wrote before the process died: null if it tore nothing yet. */
  torn(): { readonly offset: number; readonly written: number; readonly asked: number } | null;
}

/**
 * A fault for files whose path contains `match`; `ops` picks the calls that fail (`write`,
 * `sync`, `read`, comma-separated; default writes and syncs); with `writeBytesMax` only writes of
 * at most that many bytes fail (LMDB's meta-page write). With `mode` 'stall' those calls block
 * while armed instead of failing, and go through once healed; with 'tear' the first write that
 * covers a whole sector before its middle writes only those sectors and the process dies
 * (io-fault.c; `torn()` reads what it wrote). The trigger file lives in `dir` (the test's temp
 * dir).
 */
export function ioFault(lib: string, dir: string, match: string, ops = 'write,sync', writeBytesMax?: number, mode: 'fail' | 'stall' | 'tear' = 'fail'): IoFault {
  const trigger = join(dir, `io-fault-armed-${createHash('sha256').update(match).digest('hex').slice(0, 8)}`);
  return {
    env: {
      LD_PRELOAD: lib, SEQDB_FAULT_MATCH: match, SEQDB_FAULT_TRIGGER: trigger, SEQDB_FAULT_OPS: ops,
      ...(writeBytesMax !== undefined ? { SEQDB_FAULT_MAXLEN: String(writeBytesMax) } : {}),
      ...(mode !== 'fail' ? { SEQDB_FAULT_MODE: mode } : {}),
    },
    arm: () => writeFileSync(trigger, ''),
    heal: () => rmSync(trigger, { force: true }),
    torn: () => {
      if (!existsSync(`${trigger}.torn`)) return null;
      const [offset, written, asked] = readFileSync(`${trigger}.torn`, 'utf8').trim().split(' ').map(Number);
      return { offset: offset!, written: written!, asked: asked! };
    },
  };
}
