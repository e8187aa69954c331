/**
 * The Raft log and hard state as append-only segment files (`<data>/raft/wal/seg-N.wal`, records
 * in wal-codec.ts). One write = one pwrite at the end of the active segment, durable when it
 * returns: an LMDB commit of the same entry costs two fsyncs (data pages, then the meta page) and
 * its B-tree pages, ~0.29 vs ~0.13 ms here, ~0.37 vs ~0.17 ms with three nodes sharing the disk.
 *
 * Segments are opened with O_DSYNC: a write returns once its data (and the metadata needed to
 * read it back) is on disk, the guarantee of a write followed by fdatasync in one syscall, and
 * for a leader's write one trip to libuv's thread pool instead of two (measured: DESIGN.md).
 *
 * The view (which entries the log holds, their terms and where their bytes are) moves only when
 * a write is on disk, so readers never see an entry a crash could lose. Recent entries' bytes are
 * kept in memory (bounded); older ones are read back from their segment.
 *
 * Writes from `write` are queued and run one at a time, everything queued meanwhile in one
 * pwrite (group commit), in order. `writeSync` (a follower's, on the main thread)
 * may only run when no queued write is in flight.
 *
 * Preallocation: a write that reaches the end of what the segment file holds also writes
 * `preallocBytes` of zeros after itself, so the next writes land in blocks that already exist
 * and their sync flushes data only, not the file system's journal too (the file's new size; as
 * PostgreSQL zero-fills its WAL segments). Recovery reads the zeros as the end of the log; a
 * segment is cut to its records before the next one starts, so only the last one ends in zeros.
 *
 * Segments: a new one is started when the active one would pass `segmentBytesMax`; each starts
 * with the newest hard state, so deleting older segments never loses it (wal-segment-files.ts).
 * A segment is deleted once every entry it holds is at or below the compaction point (`compact`).
 * Recovery replays the segments in order and cuts a torn write off the last one (wal-torn.ts
 * tells one from damage); damage anywhere refuses to start (the log is the node's durable truth:
 * guessing past a hole could drop acknowledged data).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, readSync, unlinkSync, fstatSync } from 'node:fs';
import { writev as writevCb, writevSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import type { Entry, EntryType, HardState } from '../raft/types.ts';
import { SeqError, ErrorCode } from '../../shared/errors.ts';
import { EntryCache } from './wal-cache.ts';
import { createSegment, hasSegmentFiles, segmentPath, segmentSeqs } from './wal-segment-files.ts';
import { fsyncDir } from '../../shared/durable-file.ts';
import { isTornWrite, isZeroTail } from './wal-torn.ts';
import { RESET_RECORD_BYTES, RecordKind, encodeHardState, encodeSegmentHeader, encodeWrite, entrySlots, scanRecords, type EncodedWrite, type WalRecord, type WalWrite } from './wal-codec.ts';

export type { WalWrite };

export interface WalOptions {
  /** Directory of the segment files (created if missing). */
  readonly dir: string;
  /** Start a new segment past this size. Default 64 MiB. */
  readonly segmentBytesMax?: number;
  /** Bytes of recent entries' data kept in memory for reads. Default 4 MiB. */
  readonly cacheBytesMax?: number;
  /** Zeros written ahead of the log's end (see above); 0 appends without. Default 1 MiB. */
  readonly preallocBytes?: number;
}

interface Segment {
  readonly seq: number;
  readonly path: string;
  readonly fd: number;
  /** Seeds its records' checksums (wal-codec.ts); 0: written before salts. */
  salt: number;
  size: number;
  /** Bytes the file holds: `size` plus the zeros written ahead of it. */
  allocated: number;
  /** Highest entry index written into it (0: none). */
  maxIndex: number;
}

interface Queued {
  readonly w: WalWrite;
  readonly encoded: EncodedWrite;
  readonly done: () => void;
  readonly failed: (err: Error) => void;
}

/** A nonzero salt (0 reads as "written before salts"). */
function newSalt(): number {
  return randomBytes(4).readUInt32BE(0) || 1;
}

function walError(message: string): SeqError {
  return new SeqError(ErrorCode.STORAGE, `raft log: ${message}`);
}

/**
 * Runs a read of segment `path`; a failed read (EIO: a sector that cannot be read back) names
 * the file and stops whatever needed the entries, never reads as the end of the log (which
 * would drop acknowledged entries: test/disk/io-errors-reads.test.ts).
 */
function reading<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    // Only the system's errors (EIO, ...): a bug's exception stays what it is.
    if (typeof (err as NodeJS.ErrnoException).syscall !== 'string') throw err;
    throw walError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

export class Wal {
  private readonly dir: string;
  private readonly segmentBytesMax: number;
  /** Zeros appended after a write that reaches the end of the file (empty: preallocation off). */
  private readonly zeros: Buffer;
  private readonly segments: Segment[] = [];
  /** The view: entries start..start+terms.length-1. */
  private start = 1;
  private terms: number[] = [];
  private types: number[] = [];
  private offsets: number[] = [];
  private lengths: number[] = [];
  private segs: Segment[] = [];
  private hs: HardState | null = null;
  /** The segment holding the newest hard state record (0: none). */
  private hsSeq = 0;
  /**
   * The salt of every segment this process writes to: the last segment's, or a new one if it has
   * none (a fresh log, or one written before salts: a salted segment is started at once). One salt
   * for all of them, so that a queued write's records, sealed when queued, fit any segment.
   */
  private salt = 0;
  private readonly cache: EntryCache;
  private queue: Queued[] = [];
  private pumping = false;
  /** A queued batch's pwrite (durable when done: O_DSYNC) is running. */
  private ioInFlight = false;
  private closed = false;

  static open(opts: WalOptions): Wal {
    return new Wal(opts);
  }

  /** Whether `dir` holds any segment file. */
  static hasSegments(dir: string): boolean {
    return hasSegmentFiles(dir);
  }

  private constructor(opts: WalOptions) {
    this.dir = opts.dir;
    this.segmentBytesMax = opts.segmentBytesMax ?? 64 << 20;
    this.zeros = Buffer.alloc(opts.preallocBytes ?? 1 << 20);
    this.cache = new EntryCache(opts.cacheBytesMax ?? 4 << 20);
    if (mkdirSync(this.dir, { recursive: true }) !== undefined) fsyncDir(join(this.dir, '..'));
    const seqs = segmentSeqs(this.dir);
    try {
      seqs.forEach((seq, i) => this.recover(seq, i === seqs.length - 1));
      this.salt = this.segments.at(-1)?.salt || newSalt();
      this.startSaltedSegment();
      this.rewriteHardStateIntoLast();
    } catch (err) {
      for (const seg of this.segments) closeSync(seg.fd);
      throw err;
    }
  }

  /**
   * The torn write recovery cut off the last segment at open (bytes that were not all zeros after
   * the last whole record: a write the process died inside), for the node to report; null if none.
   */
  tornTail: { readonly path: string; readonly at: number } | null = null;

  /** True if no segment existed (a fresh log, or one still in LMDB from an older version). */
  get isEmpty(): boolean {
    return this.segments.length === 0;
  }

  hardState(): HardState | null {
    return this.hs;
  }

  /** First index of the view (entries below were compacted or reset away). */
  firstIndex(): number {
    return this.start;
  }

  /** Last index of the view; firstIndex() - 1 when it holds no entry. */
  lastIndex(): number {
    return this.start + this.terms.length - 1;
  }

  term(index: number): number | undefined {
    return this.terms[index - this.start];
  }

  type(index: number): EntryType | undefined {
    return this.types[index - this.start] as EntryType | undefined;
  }

  /** The entry at `index` (in the view). */
  entry(index: number): Entry {
    const i = index - this.start;
    const term = this.terms[i];
    if (term === undefined) throw walError(`entry ${index} not in the log (${this.start}..${this.lastIndex()})`);
    return { index, term, type: this.types[i] as EntryType, data: this.cache.get(index) ?? this.readData(i) };
  }

  /** Size of the entry's data, without reading it. */
  dataLength(index: number): number {
    return this.lengths[index - this.start] ?? 0;
  }

  /** Writes (durably: O_DSYNC) on the calling thread. */
  writeSync(w: WalWrite): void {
    this.assertOpen();
    if (this.ioInFlight || this.queue.length > 0) throw walError('a synchronous write while queued writes are in flight');
    const encoded = encodeWrite(w, this.salt);
    const { parts, bytes } = encoded;
    const seg = this.segmentFor(bytes);
    const at = seg.size;
    const pad = this.padFor(seg, bytes);
    const n = writevSync(seg.fd, pad === null ? parts : [...parts, pad], at);
    if (n < bytes) throw walError(`short write ${n} of ${bytes}`); // O_DSYNC: on disk now
    seg.size += bytes;
    seg.allocated = Math.max(seg.allocated, at + n);
    this.applyWrite(w, encoded.chunks, seg, at);
  }

  /** Queues a write; resolves once it is on disk (in order with every other queued write). */
  write(w: WalWrite): Promise<void> {
    this.assertOpen();
    return new Promise((done, failed) => {
      this.queue.push({ w, encoded: encodeWrite(w, this.salt), done, failed });
      if (!this.pumping) void this.pump();
    });
  }

  /** Forgets entries <= index and deletes segments that hold nothing above it. */
  compact(index: number): void {
    this.assertOpen();
    if (index >= this.start) {
      const n = Math.min(index - this.start + 1, this.terms.length);
      for (const arr of [this.terms, this.types, this.offsets, this.lengths, this.segs] as unknown[][]) arr.splice(0, n);
      this.start = index + 1;
      this.cache.dropBelow(this.start);
    }
    let deleted = false;
    while (this.segments.length > 1 && this.segments[0]!.maxIndex <= index) {
      const seg = this.segments.shift()!;
      closeSync(seg.fd);
      unlinkSync(seg.path);
      deleted = true;
    }
    // A segment that came back after a crash would only be replayed and compacted again, but a
    // partial return (an older one without a newer) could look like a gap: make the deletes durable.
    if (deleted) fsyncDir(this.dir);
  }

  /** Closes the files now; no write may be queued. */
  closeSync(): void {
    if (this.pumping || this.queue.length > 0) throw walError('closeSync with queued writes');
    this.closed = true;
    for (const seg of this.segments) closeSync(seg.fd);
  }

  /** Waits for queued writes, then closes the files. */
  async close(): Promise<void> {
    while (this.pumping || this.queue.length > 0) await new Promise((r) => setTimeout(r, 1));
    this.closed = true;
    for (const seg of this.segments) closeSync(seg.fd);
  }

  // ---- writing ----

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.writeBatch(batch);
        } catch (err) {
          for (const q of batch) q.failed(err as Error);
          for (const q of this.queue.splice(0)) q.failed(err as Error);
          return;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private async writeBatch(batch: readonly Queued[]): Promise<void> {
    const parts = batch.length === 1 ? batch[0]!.encoded.parts : batch.flatMap((q) => q.encoded.parts);
    const bytes = batch.reduce((n, q) => n + q.encoded.bytes, 0);
    const seg = this.segmentFor(bytes);
    const at = seg.size;
    const pad = this.padFor(seg, bytes);
    let written = 0;
    this.ioInFlight = true;
    try {
      await new Promise<void>((resolve, reject) => {
        writevCb(seg.fd, pad === null ? parts : [...parts, pad], at, (err, n) => {
          if (err) return reject(err);
          if (n < bytes) return reject(walError(`short write ${n} of ${bytes}`));
          written = n;
          resolve(); // O_DSYNC: on disk now
        });
      });
    } finally {
      this.ioInFlight = false;
    }
    seg.size += bytes;
    seg.allocated = Math.max(seg.allocated, at + written);
    let pos = at;
    for (const q of batch) {
      this.applyWrite(q.w, q.encoded.chunks, seg, pos);
      pos += q.encoded.bytes;
    }
    for (const q of batch) q.done();
  }

  /**
   * The zeros to write after `bytes` at the end of `seg`, or null if the file already holds room.
   * Only the records must fit: on a nearly full disk the zeros may be cut short (a short count
   * past the records is accepted), so preallocation never fails a write that fits without it.
   */
  private padFor(seg: Segment, bytes: number): Buffer | null {
    return this.zeros.length > 0 && seg.size + bytes > seg.allocated ? this.zeros : null;
  }

  /** The active segment, or a new one (starting with the newest hard state) if `bytes` would overfill it. */
  private segmentFor(bytes: number): Segment {
    const active = this.segments[this.segments.length - 1];
    if (active !== undefined && active.size + bytes <= this.segmentBytesMax) return active;
    return this.startSegment();
  }

  /**
   * After recovery: a last segment written before salts is never written to again (its torn tail
   * could not be told from damage: wal-torn.ts); a new one takes the writes. A log without
   * segments starts one at its first write (isEmpty tells an older build's LMDB log to move here).
   */
  private startSaltedSegment(): void {
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined && last.salt !== this.salt) this.startSegment();
  }

  /** A new active segment: its SEGMENT record, then the newest hard state (if any). */
  private startSegment(): Segment {
    const active = this.segments[this.segments.length - 1];
    // Zeros only ever end the last segment: recovery refuses a record it cannot read anywhere else.
    if (active !== undefined && active.allocated > active.size) {
      ftruncateSync(active.fd, active.size);
      fdatasyncSync(active.fd);
      active.allocated = active.size;
    }
    const seq = (active?.seq ?? 0) + 1;
    const header = encodeSegmentHeader(this.salt);
    const head = this.hs === null ? header : Buffer.concat([header, encodeHardState(this.hs, this.salt)]);
    const fd = createSegment(this.dir, seq, head);
    const seg: Segment = { seq, path: segmentPath(this.dir, seq), fd, salt: this.salt, size: head.length, allocated: head.length, maxIndex: 0 };
    this.segments.push(seg);
    if (this.hs !== null) this.hsSeq = seq;
    return seg;
  }

  // ---- the view ----

  /** Moves the view by a write that is now on disk at `at` (records laid out as encode() does). */
  private applyWrite(w: WalWrite, chunks: readonly (readonly Entry[])[], seg: Segment, at: number): void {
    let pos = at;
    if (w.reset) {
      this.applyRecord({ kind: RecordKind.Reset, at: w.reset }, seg, pos);
      pos += RESET_RECORD_BYTES;
    }
    for (const chunk of chunks) {
      const slots = entrySlots(chunk);
      this.applyRecord({ kind: RecordKind.Entries, slots }, seg, pos);
      const last = slots[slots.length - 1]!;
      pos += last.dataOffset + last.dataLength;
      for (const e of chunk) this.cache.put(e.index, e.data);
    }
    if (w.hardState) {
      this.hs = w.hardState;
      this.hsSeq = seg.seq;
    }
  }

  private applyRecord(rec: WalRecord, seg: Segment, at: number): void {
    if (rec.kind === RecordKind.Segment) {
      seg.salt = rec.salt;
    } else if (rec.kind === RecordKind.HardState) {
      this.hs = rec.hardState;
      this.hsSeq = seg.seq;
    } else if (rec.kind === RecordKind.Reset) {
      this.truncateView(this.start);
      this.start = rec.at.index + 1;
      this.cache.dropBelow(Number.POSITIVE_INFINITY);
      // Nothing written before holds a live entry now: those segments may go at the next compaction.
      for (const s of this.segments) s.maxIndex = 0;
    } else if (rec.slots.length > 0) {
      const first = rec.slots[0]!.index;
      // Entries >= first written before are replaced: no segment holds a live one above first - 1.
      for (const s of this.segments) s.maxIndex = Math.min(s.maxIndex, first - 1);
      if (this.terms.length === 0) this.start = first;
      else if (first > this.lastIndex() + 1) throw walError(`entries at ${first} leave a gap after ${this.lastIndex()} in ${seg.path}`);
      else if (first < this.start) (this.truncateView(this.start), (this.start = first));
      else this.truncateView(first);
      for (const s of rec.slots) {
        this.terms.push(s.term);
        this.types.push(s.type);
        this.offsets.push(at + s.dataOffset);
        this.lengths.push(s.dataLength);
        this.segs.push(seg);
      }
      seg.maxIndex = Math.max(seg.maxIndex, rec.slots[rec.slots.length - 1]!.index);
    }
  }

  /** Drops entries >= index from the view. */
  private truncateView(index: number): void {
    const keep = Math.max(0, index - this.start);
    if (keep >= this.terms.length) return;
    this.cache.dropRange(index, this.lastIndex());
    for (const arr of [this.terms, this.types, this.offsets, this.lengths, this.segs] as unknown[][]) arr.length = keep;
  }

  private readData(i: number): Uint8Array {
    this.assertOpen();
    const len = this.lengths[i]!;
    const out = Buffer.allocUnsafe(len);
    const seg = this.segs[i]!;
    const n = len > 0 ? reading(seg.path, () => readSync(seg.fd, out, 0, len, this.offsets[i]!)) : 0;
    if (n !== len) throw walError(`short read of entry ${this.start + i} from ${seg.path}`);
    return out;
  }

  // ---- recovery ----

  /**
   * Every segment starts with the newest hard state, so compaction never deletes the only copy of
   * it. A last segment that lacks it (left headless by a build before segments were created under
   * another name first) gets it now, before anything else is written there.
   */
  private rewriteHardStateIntoLast(): void {
    const last = this.segments[this.segments.length - 1];
    if (this.hs !== null && last !== undefined && this.hsSeq !== last.seq) this.writeSync({ hardState: this.hs });
  }

  private recover(seq: number, last: boolean): void {
    const path = segmentPath(this.dir, seq);
    const fd = openSync(path, fsc.O_RDWR | fsc.O_DSYNC);
    const seg: Segment = { seq, path, fd, salt: 0, size: 0, allocated: 0, maxIndex: 0 };
    this.segments.push(seg);
    const size = fstatSync(fd).size;
    const { end, salt } = reading(path, () => scanRecords(fd, size, (rec, at) => this.applyRecord(rec, seg, at)));
    if (end < size) {
      if (!last) throw walError(`damaged record at byte ${end} of ${path}, which is not the last segment`);
      if (!reading(path, () => isTornWrite(fd, size, end, salt))) {
        throw walError(`damaged record at byte ${end} of ${path}: written whole, so not a torn write (wal-torn.ts); the records after it were acknowledged`);
      }
      // A torn tail (the write that never finished was never acknowledged) or preallocated zeros.
      if (!reading(path, () => isZeroTail(fd, end, size))) this.tornTail = { path, at: end };
      ftruncateSync(fd, end);
      fdatasyncSync(fd);
    }
    seg.size = seg.allocated = end;
  }

  private assertOpen(): void {
    if (this.closed) throw walError('closed');
  }
}
