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
 */
import type { Database } from 'lmdb';

export const IMAGE_CHUNK_BYTES = 1 << 20;
const SNAPSHOT_HEAD_BYTES = 64 * 1024;
/** Chunks written per transaction while streaming. */
const CHUNKS_PER_TXN = 8;

interface ImageRef {
  readonly gen: number;
  readonly chunks: number;
}

export class SnapshotImages {
  private nextGen: number;
  /**
   * Log index of the image made current last, set inside the writing transaction: lmdb-js may
   * run a streamed save's last callback in the same transaction as an InstallSnapshot's, before
   * the storage's own snapshot meta moves, so the check must not lag behind the writes.
   */
  private currentIndex: number;

  constructor(private readonly image: Database<Buffer, string>, private readonly meta: Database<unknown, string>, currentIndex: number) {
    const ref = meta.get('imageRef') as ImageRef | undefined;
    this.nextGen = (ref?.gen ?? 0) + 1;
    this.currentIndex = currentIndex;
  }

  /** The current image, whole (for InstallSnapshot); empty if there is none. */
  read(): Uint8Array {
    return Buffer.concat([...this.chunks()]);
  }

  /**
   * The current image chunk by chunk (about IMAGE_CHUNK_BYTES each), all from one read
   * transaction, so an image made current meanwhile cannot mix in. Iterate to the end or call
   * `return()` to release the transaction.
   */
  *chunks(): Generator<Uint8Array> {
    const txn = this.image.useReadTransaction();
    try {
      const ref = this.meta.get('imageRef', { transaction: txn }) as ImageRef | undefined;
      if (ref === undefined) {
        const legacy = this.meta.get('snapData', { transaction: txn }) as Uint8Array | undefined;
        if (legacy !== undefined) yield legacy;
        return;
      }
      for (let i = 0; i < ref.chunks; i++) {
        const chunk = this.image.get(chunkKey(ref.gen, i), { transaction: txn });
        if (chunk === undefined) throw new Error(`snapshot image chunk ${ref.gen}/${i} missing`);
        yield chunk;
      }
    } finally {
      txn.done();
    }
  }

  head(): Uint8Array | undefined {
    return this.meta.get('snapHead') as Uint8Array | undefined;
  }

  /** Stores a whole image (of the snapshot at `index`) as the current one; call inside a write transaction. */
  putWhole(data: Uint8Array, index: number): void {
    const gen = this.nextGen++;
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let n = 0;
    for (let at = 0; at < b.length || n === 0; at += IMAGE_CHUNK_BYTES) this.image.putSync(chunkKey(gen, n++), b.subarray(at, at + IMAGE_CHUNK_BYTES));
    this.makeCurrent(gen, n, b.subarray(0, SNAPSHOT_HEAD_BYTES), index);
  }

  /**
   * Writes the image of the snapshot at `index` as its chunks come, CHUNKS_PER_TXN per
   * transaction, then (in the last transaction) makes it current and runs `finish` there, unless
   * an image of a later index became current meanwhile (then the chunks are dropped). Resolves
   * with whether it became current.
   */
  async putStreamed(
    chunks: Iterable<Uint8Array>,
    index: number,
    commit: (fn: () => void) => Promise<void>,
    finish: () => void,
  ): Promise<boolean> {
    const gen = this.nextGen++;
    let n = 0;
    let head: Buffer | null = null;
    let pending: Buffer[] = [];
    const writePending = (): void => {
      for (const c of pending) this.image.putSync(chunkKey(gen, n++), c);
      pending = [];
    };
    for (const chunk of chunks) {
      const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      head ??= Buffer.from(b.subarray(0, SNAPSHOT_HEAD_BYTES));
      pending.push(b);
      if (pending.length >= CHUNKS_PER_TXN) await commit(writePending);
    }
    let current = false;
    await commit(() => {
      if (index < this.currentIndex) return this.dropGen(gen);
      writePending();
      this.makeCurrent(gen, n, head ?? Buffer.alloc(0), index);
      finish();
      current = true;
    });
    return current;
  }

  private makeCurrent(gen: number, chunks: number, head: Uint8Array, index: number): void {
    this.currentIndex = index;
    this.meta.putSync('imageRef', { gen, chunks } satisfies ImageRef);
    this.meta.putSync('snapHead', Buffer.from(head));
    this.meta.removeSync('snapData');
    for (const key of this.image.getKeys({})) if (genOf(key as string) !== gen) this.image.removeSync(key as string);
  }

  private dropGen(gen: number): void {
    for (const key of this.image.getKeys({})) if (genOf(key as string) === gen) this.image.removeSync(key as string);
  }
}

function chunkKey(gen: number, i: number): string {
  return `${gen}/${String(i).padStart(6, '0')}`;
}

function genOf(key: string): number {
  return Number(key.slice(0, key.indexOf('/')));
}
