/**
 * Where the Raft storage keeps its snapshot image: in chunks of about 1 MiB in a binary LMDB db
 * (`image`), under a generation number; meta `imageRef` {gen, chunks} names the current one and
 * `snapHead` holds its first 64 KiB (the members envelope, read at restart without the image).
 *
 * Why chunks: a node's own snapshot is written while it is exported (`putStreamed`), a few
 * chunks per transaction, so neither the whole image nor its copies sit in the heap (a 1M-token
 * state is ~150 MB) and the Ready loop keeps running meanwhile. A generation is current only once
 * the transaction that names it commits, so a crash mid-way leaves the previous image in force;
 * leftover chunks of other generations are deleted whenever a new one becomes current.
 *
 * The ref also holds a CRC-32 of the whole image, computed as it is stored: LMDB checks nothing it
 * reads back, and a damaged image would be imported (a rebuild after an OS crash) or sent to a
 * follower as good (under frame checksums of its own) with its numbers changed. A reader gets the
 * last chunk only once the sum matched, so no consumer ever has a damaged image whole.
 */
import type { Database, Transaction } from 'lmdb';
import { crc32 } from 'node:zlib';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { nextTurn } from '../../shared/next-turn.ts';
import type { Snapshot, SnapshotMeta } from '../raft/types.ts';

export const IMAGE_CHUNK_BYTES = 1 << 20;
const SNAPSHOT_HEAD_BYTES = 64 * 1024;
/** Bytes of chunks written per transaction while streaming (the buffer they wait in). */
const TXN_BYTES = 8 << 20;

export interface ImageRef {
  readonly gen: number;
  readonly chunks: number;
  /** Total bytes; absent in refs written before it was recorded. */
  readonly bytes?: number;
  /** CRC-32 of the whole image; absent in refs written before it was recorded (not checked). */
  readonly crc?: number;
  /** CRC-32 of `snapHead` (read at restart without the image); absent as `crc`. */
  readonly headCrc?: number;
}

/** A ref with its size known (the crc stays optional: older refs have none). */
export type SizedImageRef = ImageRef & { readonly bytes: number };

export class SnapshotImages {
  private nextGen: number;
  /**
   * Log index of the image made current last, set inside the writing transaction: lmdb-js may
   * run a streamed save's last callback in the same transaction as an InstallSnapshot's, before
   * the storage's own snapshot meta moves, so the check must not lag behind the writes.
   */
  private currentIndex: number;
  /** Generations being written by putStreamed (not current yet). */
  private readonly writing = new Set<number>();

  constructor(private readonly image: Database<Buffer, string>, private readonly meta: Database<unknown, string>, currentIndex: number) {
    const ref = meta.get('imageRef') as ImageRef | undefined;
    // Past every generation present, current or not: a crash mid-write leaves chunks of a
    // generation that never became current, and reusing its number would mix them in.
    let last = ref?.gen ?? 0;
    for (const key of image.getKeys({})) last = Math.max(last, genOf(key as string));
    this.nextGen = last + 1;
    this.currentIndex = currentIndex;
  }

  /** The current image, whole; empty if there is none. */
  read(): Uint8Array {
    const ref = this.ref();
    return ref === undefined ? this.legacy() : this.readWhole(ref);
  }

  /** The current image's generation, chunk count and size (undefined: none, or a legacy whole image). */
  ref(): SizedImageRef | undefined {
    const ref = this.meta.get('imageRef') as ImageRef | undefined;
    if (ref === undefined) return undefined;
    if (ref.bytes !== undefined) return { ...ref, bytes: ref.bytes };
    let bytes = 0;
    for (let i = 0; i < ref.chunks; i++) bytes += this.image.getBinaryFast(chunkKey(ref.gen, i))?.length ?? 0;
    return { ...ref, bytes };
  }

  /** The image of `ref`, whole, in one allocation (the chunks are copied into place). */
  readWhole(ref: SizedImageRef): Uint8Array {
    const out = Buffer.allocUnsafe(ref.bytes);
    let at = 0;
    for (const chunk of this.chunksOf(ref, { reuse: true })) {
      out.set(chunk, at);
      at += chunk.length;
    }
    if (at !== ref.bytes) throw new Error(`snapshot image ${ref.gen} has ${at} bytes, not ${ref.bytes}`);
    return out;
  }

  /** The current image chunk by chunk (see chunksOf); a legacy whole image as one chunk. */
  *chunks(o: ChunkReading = {}): Generator<Uint8Array> {
    const ref = this.ref();
    if (ref === undefined) {
      const legacy = this.legacy();
      if (legacy.length > 0) yield legacy;
      return;
    }
    yield* this.chunksOf(ref, o);
  }

  /**
   * The chunks of image `ref` (about IMAGE_CHUNK_BYTES each), all from one read transaction
   * opened at the first: chunks that a newer image's commit deletes meanwhile stay readable in
   * it. Throws if `ref` was no longer current when the transaction opened, and CORRUPT instead of
   * the last chunk if the image does not match its checksum. Iterate to the end or call
   * `return()` to release the transaction (held while a slow peer receives the image).
   */
  *chunksOf(ref: ImageRef, o: ChunkReading = {}): Generator<Uint8Array> {
    const buf = o.reuse === true ? Buffer.allocUnsafeSlow(IMAGE_CHUNK_BYTES) : null;
    const txn = this.image.useReadTransaction();
    try {
      const now = this.meta.get('imageRef', { transaction: txn }) as ImageRef | undefined;
      if (now?.gen !== ref.gen) throw new Error(`snapshot image ${ref.gen} was replaced by ${now?.gen ?? 'none'}`);
      let sum = 0;
      for (let i = 0; i < ref.chunks; i++) {
        // getBinaryFast's buffer is lmdb-js's own, valid until its next read: copied at once.
        const chunk = buf === null ? this.image.get(chunkKey(ref.gen, i), { transaction: txn }) : getFast(this.image, chunkKey(ref.gen, i), txn);
        if (chunk === undefined) throw new Error(`snapshot image chunk ${ref.gen}/${i} missing`);
        if (ref.crc !== undefined) {
          sum = crc32(chunk, sum);
          if (i === ref.chunks - 1 && sum !== ref.crc) throw damaged(ref);
        }
        yield buf === null ? chunk : reusedChunk(buf, chunk);
      }
    } finally {
      txn.done();
    }
  }

  private legacy(): Uint8Array {
    return (this.meta.get('snapData') as Uint8Array | undefined) ?? new Uint8Array(0);
  }

  /**
   * The image's first bytes, kept beside it for a restart's members envelope; undefined if there
   * are none or they do not match their checksum (the caller then reads the image, checked whole).
   */
  head(): Uint8Array | undefined {
    const head = this.meta.get('snapHead') as Uint8Array | undefined;
    const ref = this.meta.get('imageRef') as ImageRef | undefined;
    if (head !== undefined && ref?.headCrc !== undefined && crc32(head) !== ref.headCrc) return undefined;
    return head;
  }

  /**
   * Stores a whole image (of the snapshot at `index`) as the current one, in the caller's write
   * transaction: for small images (a new shard's first); a received one goes by putStreamed.
   */
  putWhole(data: Uint8Array, index: number): void {
    const gen = this.nextGen++;
    let n = 0;
    for (const chunk of imageChunks(data)) this.image.putSync(chunkKey(gen, n++), chunk);
    this.makeCurrent({ gen, chunks: n, bytes: data.length, crc: crc32(data) }, data.subarray(0, SNAPSHOT_HEAD_BYTES), index);
  }

  /**
   * Writes the image of the snapshot at `index` as its chunks come, about TXN_BYTES per
   * transaction and stored in IMAGE_CHUNK_BYTES values whatever the size of the chunks that came,
   * then (in the last transaction) makes it current and runs `finish` there, unless an image of a
   * later index became current meanwhile (then the chunks are dropped). Resolves with whether it
   * became current. Takes one chunk per turn of the event loop: pulling a chunk may encode it from
   * the state (an own snapshot), and eight 1 MiB chunks pulled in one turn held a leader's loop
   * for 143 ms at 1M sequences (bench/README.md, thirtieth round).
   */
  async putStreamed(
    chunks: Iterable<Uint8Array>,
    index: number,
    commit: (fn: () => void) => Promise<void>,
    finish: () => void,
  ): Promise<boolean> {
    const gen = this.nextGen++;
    this.writing.add(gen);
    try {
      let n = 0;
      let bytes = 0;
      let sum = 0;
      let head: Buffer | null = null;
      // The image's bytes wait for their transaction in one buffer of our own, grown up to
      // TXN_BYTES and reused from one transaction to the next: `chunks` may reuse its buffer
      // (ChunkReading.reuse), and a copy per chunk would be a chunk-sized garbage Buffer each.
      let pending: Buffer = Buffer.alloc(0);
      let used = 0;
      const writeSlices = (bytesOf: Buffer): void => {
        for (let at = 0; at < bytesOf.length; at += IMAGE_CHUNK_BYTES) this.image.putSync(chunkKey(gen, n++), bytesOf.subarray(at, at + IMAGE_CHUNK_BYTES));
      };
      const writePending = (): void => {
        writeSlices(pending.subarray(0, used));
        used = 0;
      };
      for (const chunk of chunks) {
        const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        head ??= Buffer.from(b.subarray(0, SNAPSHOT_HEAD_BYTES));
        bytes += b.length;
        sum = crc32(b, sum);
        if (used > 0 && used + b.length > TXN_BYTES) await commit(writePending);
        if (b.length > TXN_BYTES) {
          // A whole image in one piece (saveSnapshot): valid until the next chunk is asked for.
          await commit(() => writeSlices(b));
        } else {
          if (pending.length < used + b.length) pending = grown(pending, used, used + b.length);
          b.copy(pending, used);
          used += b.length;
        }
        await nextTurn();
      }
      let current = false;
      await commit(() => {
        if (index < this.currentIndex) return this.dropGen(gen);
        writePending();
        this.makeCurrent({ gen, chunks: n, bytes, crc: sum }, head ?? Buffer.alloc(0), index);
        finish();
        current = true;
      });
      return current;
    } finally {
      this.writing.delete(gen);
    }
  }

  /**
   * Deletes every other generation's chunks, except those still being written: an own snapshot
   * and a received one can be written at the same time, each over several transactions, and
   * whichever finishes first must not delete the other's chunks (the later index wins at its end).
   */
  private makeCurrent(ref: Omit<Required<ImageRef>, 'headCrc'>, head: Uint8Array, index: number): void {
    const gen = ref.gen;
    this.currentIndex = index;
    this.meta.putSync('imageRef', { ...ref, headCrc: crc32(head) } satisfies ImageRef);
    this.meta.putSync('snapHead', Buffer.from(head));
    this.meta.removeSync('snapData');
    for (const key of this.image.getKeys({})) {
      const g = genOf(key as string);
      if (g !== gen && !this.writing.has(g)) this.image.removeSync(key as string);
    }
  }

  private dropGen(gen: number): void {
    for (const key of this.image.getKeys({})) if (genOf(key as string) === gen) this.image.removeSync(key as string);
  }
}

/** A whole image as IMAGE_CHUNK_BYTES views (no copies). */
export function* imageChunks(data: Uint8Array): Generator<Buffer> {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at < b.length; at += IMAGE_CHUNK_BYTES) yield b.subarray(at, at + IMAGE_CHUNK_BYTES);
}

function chunkKey(gen: number, i: number): string {
  return `${gen}/${String(i).padStart(6, '0')}`;
}

/**
 * lmdb-js's getBinaryFast in a given read transaction (its typings omit the options it takes),
 * cut to the value's size: for a small value it hands out its own larger buffer, the size aside.
 */
function getFast(db: Database<Buffer, string>, key: string, txn: Transaction): Buffer | undefined {
  const fast = db as unknown as { getBinaryFast(k: string, o: { transaction: Transaction }): Buffer | undefined; lastSize: number };
  const bytes = fast.getBinaryFast(key, { transaction: txn });
  // byteLength, not length: lmdb-js overrides the length property of its shared buffer.
  return bytes === undefined || bytes.byteLength === fast.lastSize ? bytes : bytes.subarray(0, fast.lastSize);
}

function damaged(ref: ImageRef): SeqError {
  return new SeqError(ErrorCode.CORRUPT, `snapshot image ${ref.gen} does not match its checksum: the stored copy is damaged`);
}

function genOf(key: string): number {
  return Number(key.slice(0, key.indexOf('/')));
}

/**
 * A stored snapshot whose image is read chunk by chunk when it is sent (peer-link.ts), so a
 * leader never holds a whole image to ship it. `data` still reads it whole, for callers that
 * need that.
 */
export interface ChunkedSnapshot extends Snapshot {
  readonly bytes: number;
  /** The image's chunks (SnapshotImages.chunksOf): throws if a newer image replaced it first. */
  chunks(o?: ChunkReading): Generator<Uint8Array>;
}

export interface ChunkReading {
  /**
   * Yield every chunk in one buffer, overwritten by the next: valid only until the next chunk is
   * asked for, for a reader that copies what it keeps. Default false: a new buffer per chunk,
   * which a 1M-sequence image (~50 chunks of 1 MiB) left behind as ~50 MB of garbage before a GC
   * came for it, most of a catching-up follower's memory peak.
   */
  readonly reuse?: boolean;
}

/** `buf` (its first `used` bytes kept) grown to hold `need` bytes: doubling from 1 MiB, at most TXN_BYTES. */
function grown(buf: Buffer, used: number, need: number): Buffer {
  const next = Buffer.allocUnsafeSlow(Math.min(TXN_BYTES, Math.max(need, IMAGE_CHUNK_BYTES, buf.length * 2)));
  buf.copy(next, 0, 0, used);
  return next;
}

/** The buffer a reusing reader (ChunkReading.reuse) yields `bytes` in: `buf` if large enough. */
export function reusedChunk(buf: Buffer, bytes: Uint8Array): Buffer {
  if (bytes.length > buf.length) return Buffer.from(bytes);
  buf.set(bytes);
  return buf.subarray(0, bytes.length);
}

export function isChunked(s: Snapshot): s is ChunkedSnapshot {
  return typeof (s as Partial<ChunkedSnapshot>).chunks === 'function';
}

/**
 * The image's size, without reading it: a chunked snapshot's `data` reads the whole image into
 * memory (a follower's observer asking a received image's size that way held ~2x the image, ~90
 * MB at 1M sequences, after every InstallSnapshot).
 */
export function snapshotBytes(s: Snapshot): number {
  return isChunked(s) ? s.bytes : s.data.length;
}

export function chunkedSnapshot(meta: SnapshotMeta, ref: SizedImageRef, images: SnapshotImages): ChunkedSnapshot {
  return {
    meta,
    bytes: ref.bytes,
    chunks: (o) => images.chunksOf(ref, o),
    get data(): Uint8Array {
      return images.readWhole(ref);
    },
  };
}
