/**
 * The log's segment files as files (wal.ts): their names, the directory listing, and creating a
 * new one. A new segment is written under another name and renamed once its head (the newest
 * hard state) is on disk: a segment that existed without its head (a crash or a full disk between
 * creating it and writing the head) would take every later write, and compacting the segments
 * before it would delete the only copy of the term and vote.
 */
import { closeSync, existsSync, fdatasyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { fsyncDir } from '../../shared/durable-file.ts';

const SEGMENT_RE = /^seg-(\d{16})\.wal$/;
/** A segment being created: renamed to its name once its head is on disk. */
const NEW_SUFFIX = '.new';

export function segmentPath(dir: string, seq: number): string {
  return join(dir, `seg-${String(seq).padStart(16, '0')}.wal`);
}

/** Whether `dir` holds any segment file. */
export function hasSegmentFiles(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((f) => SEGMENT_RE.test(f));
}

/** The segments' sequence numbers in order; removes segments a crash left half created. */
export function segmentSeqs(dir: string): number[] {
  const files = readdirSync(dir);
  for (const f of files) if (f.endsWith(NEW_SUFFIX)) unlinkSync(join(dir, f));
  return files
    .map((f) => SEGMENT_RE.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * Creates segment `seq` starting with `head` (if any), durable with its directory entry, and
 * returns its descriptor (O_DSYNC, like every segment's).
 */
export function createSegment(dir: string, seq: number, head: Buffer | null): number {
  const path = segmentPath(dir, seq);
  const fresh = `${path}${NEW_SUFFIX}`;
  const fd = openSync(fresh, fsc.O_RDWR | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_DSYNC);
  try {
    if (head !== null && writeSync(fd, head, 0, head.length, 0) !== head.length) {
      throw new SeqError(ErrorCode.STORAGE, 'raft log: short write of a segment head');
    }
    fdatasyncSync(fd);
    renameSync(fresh, path);
    fsyncDir(dir);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
