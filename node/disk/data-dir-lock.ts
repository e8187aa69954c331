/**
 * One process per data dir. A second `seqdb node` or `seqdb dev` started on a live node's dir
 * (a restart that did not wait for the old process) opened its LMDB environment and Raft log
 * before failing to bind the port, shrank the live `data.mdb` and cut the live log segment; the
 * live node then died by SIGBUS (a review). So the dir is locked before anything in it is opened:
 * a `LOCK` file naming its owner (pid, boot id, process start time), created whole and
 * exclusively (link of a written temp file). A lock whose process is gone (kill -9, a crash, a
 * reboot: another boot id, or the pid now belongs to a process started at another time) is taken
 * over, by one starter at a time (`LOCK.takeover`, created exclusively): two starters that both
 * found the same stale lock took the dir together (a review). One held by this very process is ours.
 */
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SeqError } from '../../shared/errors.ts';

export interface DataDirLock {
  /** Removes the lock file (if still ours). */
  release(): void;
}

/** A takeover guard older than this was left by a starter killed mid-takeover (it takes microseconds). */
const TAKEOVER_STALE_MS = 10_000;

export function lockDataDir(dir: string): DataDirLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'LOCK');
  const me = selfOwner();
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createWhole(path, me)) return { release: () => releaseIfOurs(path, me) };
    const owner = ownerOf(path);
    if (owner !== null && alive(owner, me)) {
      throw new SeqError(ErrorCode.DATA_DIR_IN_USE, `data dir ${dir} is in use by process ${owner.pid} (${path}); stop it first (if no seqdb process uses it, remove the file)`);
    }
    takeOver(path, me, owner);
  }
  throw new SeqError(ErrorCode.DATA_DIR_IN_USE, `data dir ${dir}: could not take ${path}`);
}

interface Owner {
  readonly pid: number;
  readonly boot: string;
  readonly start: string;
  readonly text: string;
  /** When the lock file was last written (ms), if known. */
  readonly writtenMs: number | null;
}

function selfOwner(): Owner {
  const pid = process.pid;
  const boot = readOr('/proc/sys/kernel/random/boot_id').trim() || '-';
  const start = startTime(pid) ?? '-';
  return { pid, boot, start, text: `${pid} ${boot} ${start}\n`, writtenMs: null };
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or null. */
function startTime(pid: number): string | null {
  const stat = readOr(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

/** Wall-clock ms at which a process started `ticks` clock ticks after boot (USER_HZ 100), or null. */
function startedAtMs(ticks: number): number | null {
  const btime = /^btime (\d+)$/m.exec(readOr('/proc/stat'))?.[1];
  return btime === undefined || !Number.isFinite(ticks) ? null : Number(btime) * 1000 + ticks * 10;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return '';
  }
}

/** Creates `path` holding `me` in one step (never empty, never half written); false if it exists. */
function createWhole(path: string, me: Owner): boolean {
  const tmp = `${path}.${me.pid}.tmp`;
  try {
    // Inside the try: a write that fails (a disk error) leaves no tmp file behind, which made a
    // restore run again on the healed disk refuse the dir as not empty (a review).
    writeFileSync(tmp, me.text);
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Removes the stale lock `seen` (if it is still the one there), one starter at a time. */
function takeOver(path: string, me: Owner, seen: Owner | null): void {
  const guard = `${path}.takeover`;
  let fd: number;
  try {
    fd = openSync(guard, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    try {
      if (Date.now() - statSync(guard).mtimeMs > TAKEOVER_STALE_MS) unlinkSync(guard);
    } catch {
      // gone meanwhile
    }
    return; // another starter is taking over: look again
  }
  try {
    writeSync(fd, me.text);
    const now = ownerOf(path);
    if ((now?.text ?? null) === (seen?.text ?? null)) unlinkSync(path);
  } catch {
    // gone meanwhile: look again
  } finally {
    closeSync(fd);
    unlinkSync(guard);
  }
}

function ownerOf(path: string): Owner | null {
  const text = readOr(path);
  const [pidText, boot = '-', start = '-'] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  let writtenMs: number | null = null;
  try {
    writtenMs = statSync(path).mtimeMs;
  } catch {
    // gone meanwhile
  }
  return Number.isSafeInteger(pid) && pid > 0 ? { pid, boot, start, text, writtenMs } : null;
}

/** Whether the lock's process still runs: same pid, this boot, started when the lock says. */
function alive(o: Owner, me: Owner): boolean {
  if (o.pid === me.pid) return false; // ours from an earlier life (a container restarted with the same pid)
  if (o.boot !== '-' && me.boot !== '-' && o.boot !== me.boot) return false;
  try {
    process.kill(o.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = startTime(o.pid);
  if (o.start !== '-') return start === null || start === o.start;
  // An older build's lock (pid only): a process started after the lock was written is not its owner.
  const startedMs = start === null ? null : startedAtMs(Number(start));
  return startedMs === null || o.writtenMs === null || startedMs <= o.writtenMs + 1000;
}

function releaseIfOurs(path: string, me: Owner): void {
  if (ownerOf(path)?.text !== me.text) return;
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}
