/**
 * Watches the free space of the file system under a node's data dir and says when it runs low,
 * so that the node stops taking writes before the disk is full rather than at it.
 *
 * Why before: a replica whose log or state write fails on a full disk stops (FATAL; it wrote its
 * state through LMDB's memory map until that was dropped, and was then killed by SIGBUS); a
 * single node's failed commit stops it serving until a restart. With a reserve, the
 * node refuses new writes (NOSPACE, nothing taken), a follower stops taking log entries (its
 * leader carries on with the others), and all of it resumes by itself once space is freed.
 *
 * Low when the free space falls under `reserveBytes`; back to normal only once it is at least
 * twice that, so a node near the line does not flap. The file system is asked at most every
 * `checkMs`, so the check is cheap enough for every write.
 */
import { statfsSync } from 'node:fs';
import type { Command } from '../state-machine/index.ts';

export interface DiskGuardOptions {
  /** A directory on the file system to watch (the node's data dir). */
  readonly path: string;
  /** Free bytes under which the node refuses writes. Default 64 MiB; 0 turns the guard off. */
  readonly reserveBytes?: number;
  /** How often the file system is asked, at most. Default 100 ms. */
  readonly checkMs?: number;
  /** Free bytes for an unprivileged writer (tests). Default statfs: available blocks x block size. */
  readonly freeBytes?: (path: string) => number;
  /** Clock in ms (tests). Default Date.now. */
  readonly nowMs?: () => number;
  /** Told once per change of state, with the free bytes that caused it. */
  readonly onChange?: (low: boolean, freeBytes: number) => void;
}

export const DISK_RESERVE_BYTES_DEFAULT = 64 * 1024 * 1024;

export class DiskGuard {
  readonly reserveBytes: number;
  private readonly checkMs: number;
  private readonly freeOf: (path: string) => number;
  private readonly nowMs: () => number;
  private nextCheckMs = 0;
  private isLow = false;
  /** The last reading (-1 before the first, or when the guard is off). */
  private lastFreeBytes = -1;
  /** Bytes admitted since the last reading (admits). */
  private sinceReadBytes = 0;

  constructor(private readonly o: DiskGuardOptions) {
    this.reserveBytes = o.reserveBytes ?? DISK_RESERVE_BYTES_DEFAULT;
    if (!Number.isSafeInteger(this.reserveBytes) || this.reserveBytes < 0) throw new RangeError('reserveBytes must be a non-negative integer');
    this.checkMs = o.checkMs ?? 100;
    this.freeOf = o.freeBytes ?? statfsFreeBytes;
    this.nowMs = o.nowMs ?? Date.now;
  }

  /** Whether the free space is under the reserve (re-read when the last reading is `checkMs` old). */
  low(): boolean {
    if (this.reserveBytes === 0) return false;
    const now = this.nowMs();
    if (now >= this.nextCheckMs) {
      this.nextCheckMs = now + this.checkMs;
      this.read();
    }
    return this.isLow;
  }

  /**
   * Whether `bytes` more may be written and stay above the reserve, counting what was admitted
   * since the last reading (counted when yes). The file system is read again when the estimate
   * falls short or a quarter of the reserve was admitted since: a reading every 100 ms alone let a
   * follower catching up write past the reserve to a full disk between two readings (a review saw
   * it killed by SIGBUS). Always yes when off or unreadable.
   */
  admits(bytes: number): boolean {
    if (this.reserveBytes === 0) return true;
    if (this.low()) return false;
    if (this.lastFreeBytes < 0) return true;
    if (this.lastFreeBytes - this.sinceReadBytes - bytes < this.reserveBytes || this.sinceReadBytes >= this.reserveBytes / 4) {
      this.nextCheckMs = this.nowMs() + this.checkMs;
      this.read();
      if (this.isLow || (this.lastFreeBytes >= 0 && this.lastFreeBytes - bytes < this.reserveBytes)) return false;
    }
    this.sinceReadBytes += bytes;
    return true;
  }

  /** The free bytes as last read (read again when due), less what was admitted since. Infinity when off or unreadable. */
  freeBytes(): number {
    if (this.reserveBytes === 0) return Number.POSITIVE_INFINITY;
    this.low();
    return this.lastFreeBytes < 0 ? Number.POSITIVE_INFINITY : this.lastFreeBytes - this.sinceReadBytes;
  }

  /** The free bytes now (a fresh read; for a decision about one large write). Infinity when off or unreadable. */
  freeBytesNow(): number {
    if (this.reserveBytes === 0) return Number.POSITIVE_INFINITY;
    try {
      return this.freeOf(this.o.path);
    } catch {
      return Number.POSITIVE_INFINITY;
    }
  }

  /**
   * Whether one large write of `bytes` (an image) fits above the reserve, by a fresh reading:
   * for writes outside the log's accounting (`admits`), which the reserve must outlast.
   */
  roomFor(bytes: number): boolean {
    return !this.low() && this.freeBytesNow() >= this.reserveBytes + bytes;
  }

  /** INFO fields. */
  info(): Record<string, number> {
    this.low();
    return { disk_free_bytes: this.lastFreeBytes, disk_reserve_bytes: this.reserveBytes, disk_low: this.isLow ? 1 : 0 };
  }

  private read(): void {
    let free: number;
    try {
      free = this.freeOf(this.o.path);
    } catch {
      return; // the data dir is checked by its own writes; keep the last state
    }
    this.lastFreeBytes = free;
    this.sinceReadBytes = 0;
    const low = this.isLow ? free < this.reserveBytes * 2 : free < this.reserveBytes;
    if (low === this.isLow) return;
    this.isLow = low;
    this.o.onChange?.(low, free);
  }
}

function statfsFreeBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

/** The wire message of a write refused by the guard. */
export function noSpaceMessage(guard: DiskGuard): string {
  return `disk space under the reserve (${mib(guard.reserveBytes)} MiB) on this node; nothing was taken, free space to resume`;
}

/** Bytes as MiB for log lines, one decimal. */
export function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

/**
 * The commands a low disk refuses: every write but the slot-move steps that add no data (so a
 * move can still be aborted or finished, and a RELEASE still frees space). Reads always run.
 */
export function growsState(command: Command): boolean {
  if (command.type === 'get') return false;
  if (command.type !== 'cluster') return true;
  return command.op === 'import' || command.op === 'importpart' || command.op === 'importdone';
}
