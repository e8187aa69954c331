/**
 * Where a follower puts a snapshot image while it arrives: a file, not memory. peer-codec's
 * decoder writes each SNAP_CHUNK into a sink and, at the last, emits the snap message with a
 * ChunkedSnapshot reading that file back; the driver stores it in the raft storage a few chunks
 * per transaction (lmdb-raft-storage.ts) and releases it. Held whole, a 1M-sequence image (46
 * MiB) was most of a catching-up follower's memory peak, and an image could not exceed the
 * decoder's in-memory bound (256 MiB, ~5M sequences).
 *
 * The file is unlinked as soon as it is open: nothing is left behind by a crash. Whoever drops
 * a spooled snapshot releases it (the driver once stored or refused, the transport for a message
 * it does not deliver, the decoder on a dead connection); one that slips through is closed when
 * the snapshot object is collected.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { ScratchFile, sweepScratch } from '../disk/unlinked-file.ts';
import type { Snapshot, SnapshotMeta } from '../raft/types.ts';
import type { SnapshotSink } from './peer-codec.ts';
import { IMAGE_CHUNK_BYTES, type ChunkedSnapshot } from './snapshot-images.ts';

const PREFIX = 'incoming-snapshot-';

/** A received image in its spool file; `release` closes it (the driver does after storing it). */
export interface SpooledSnapshot extends ChunkedSnapshot {
  release(): void;
}

const unreleased = new FinalizationRegistry<ScratchFile>((file) => file.close());

/**
 * Sinks spooling into `dir` (created; spool files a crash left between open and unlink are
 * removed). An image for which `room(bytes)` says no (the disk guard: not enough space above the
 * reserve) is read off the connection and discarded, never written: the driver then drops the
 * message as lost (isDiscarded), and the leader sends it again later. Refusing it on the
 * connection instead would close the leader's link, which a follower reads as the leader gone.
 */
export function spoolSinks(
  dir: string,
  room: (bytes: number) => boolean = () => true,
  /**
   * The spool file could not be written because the disk fails (EIO) or went read-only: the
   * node must stop, as for its log. Left to the connection, the error only dropped the leader's
   * link and the leader sent the image again, forever: a follower that never caught up and
   * never said so (a review). A full disk is not this (the `room` check's case).
   */
  onDiskFailure: (err: Error) => void = () => {},
): (bytes: number) => SnapshotSink {
  mkdirSync(dir, { recursive: true });
  sweepScratch(dir, PREFIX);
  let n = 0;
  const guarded = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (DISK_FAILURES.has((err as NodeJS.ErrnoException).code ?? '')) onDiskFailure(err as Error);
      throw err;
    }
  };
  return (bytes) => {
    if (!room(bytes)) return discard(bytes);
    const sink = guarded(() => spool(join(dir, `${PREFIX}${process.pid}-${n++}`), bytes));
    return { ...sink, write: (chunk) => guarded(() => sink.write(chunk)) };
  };
}

/** Errors of a failing disk, as opposed to a full one (ENOSPC) or a process limit (EMFILE). */
const DISK_FAILURES: ReadonlySet<string> = new Set(['EIO', 'EROFS']);

const DISCARDED = Symbol('discarded snapshot');

/** Whether a received image was discarded for lack of room (spoolSinks `room`). */
export function isDiscarded(s: Snapshot): boolean {
  return (s as { [DISCARDED]?: true })[DISCARDED] === true;
}

function discard(bytes: number): SnapshotSink {
  let written = 0;
  const gone = (): never => {
    throw new Error('snapshot image discarded: no room on disk');
  };
  return {
    write(chunk: Uint8Array): void {
      written += chunk.length;
    },
    finish(meta: SnapshotMeta): Snapshot {
      if (written !== bytes) throw new Error(`received ${written} of ${bytes} snapshot bytes`);
      return { meta, bytes, [DISCARDED]: true, chunks: gone, get data(): Uint8Array { return gone(); }, release(): void {} } as SpooledSnapshot;
    },
    abort(): void {},
  };
}

function spool(path: string, bytes: number): SnapshotSink {
  const file = ScratchFile.create(path);
  let written = 0;
  // Of what arrived (past the frames' checksums): the file read back must match it.
  let sum = 0;
  return {
    write(chunk: Uint8Array): void {
      file.write(chunk, written);
      written += chunk.length;
      sum = crc32(chunk, sum);
    },
    finish(meta: SnapshotMeta): Snapshot {
      if (written !== bytes) throw new Error(`spooled ${written} of ${bytes} snapshot bytes`);
      const snapshot: SpooledSnapshot = {
        meta,
        bytes,
        chunks: (o) => readChunks(file, bytes, o?.reuse === true, sum),
        get data(): Uint8Array {
          return Buffer.concat([...readChunks(file, bytes, false, sum)], bytes);
        },
        release(): void {
          unreleased.unregister(snapshot);
          file.close();
        },
      };
      unreleased.register(snapshot, file, snapshot);
      return snapshot;
    },
    abort(): void {
      file.close();
    },
  };
}

/**
 * Chunks of IMAGE_CHUNK_BYTES: fresh buffers (a consumer may hold several), or with `reuse` one
 * buffer overwritten chunk after chunk (ChunkReading). Checks the file is still open before every
 * chunk (it can be released only while the generator waits between two): a closed descriptor's
 * number may already belong to another file (a log segment), whose bytes must never pass for the
 * image's. The last chunk comes only if what was read matches `sum`, the CRC-32 of what arrived
 * (else CORRUPT): the file is on a disk, which may return other bytes than were written.
 */
function* readChunks(file: ScratchFile, bytes: number, reuse: boolean, sum: number): Generator<Uint8Array> {
  const buf = reuse ? Buffer.allocUnsafeSlow(IMAGE_CHUNK_BYTES) : null;
  let read = 0;
  for (let at = 0; at < bytes;) {
    const size = Math.min(IMAGE_CHUNK_BYTES, bytes - at);
    const chunk = buf === null ? Buffer.allocUnsafe(size) : buf.subarray(0, size);
    if (!file.open) throw new Error('snapshot spool already released');
    file.readInto(chunk, at);
    at += chunk.length;
    read = crc32(chunk, read);
    if (at >= bytes && read !== sum) throw new SeqError(ErrorCode.CORRUPT, 'snapshot spool file read back does not match the image received');
    yield chunk;
  }
}

/** Closes a spooled snapshot's file (a no-op for any other snapshot). */
export function releaseSnapshot(s: Snapshot): void {
  (s as Partial<SpooledSnapshot>).release?.();
}
