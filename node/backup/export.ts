/**
 * The node side of `seqdb backup`. `SEQDB.EXPORT` takes this shard's whole state as of one
 * committed index: on a replicated node the leader first completes a ReadIndex round (a GET
 * through Raft), so every write acknowledged before the request is applied, then copies the
 * state from ONE LMDB read transaction; the applied index inside that image is its index.
 *
 * The image is fetched in chunks, so that no reply outgrows a connection's output bound:
 *   SEQDB.EXPORT                 -> bulk JSON header {shard, index, bytes, id, chunkBytes}
 *   SEQDB.EXPORT <id> <offset>   -> bulk: up to chunkBytes of the image from offset
 * Images wait in a small per-node cache (bounded in count, dropped when idle), each in an
 * unlinked file (export-file.ts), not in the heap.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { ErrorCode } from '../../shared/errors.ts';
import { readBarrier } from '../replication/read-barrier.ts';
import { decodeSnapshot, errorResult, type Command, type CommandResult, type LmdbStore } from '../state-machine/index.ts';
import { SLICE_BYTES } from '../state-machine/snapshot.ts';
import { META, readU64 } from '../state-machine/keys.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';
import { ExportFile } from './export-file.ts';

export interface ExportHeader {
  readonly shard: string;
  readonly index: number;
  readonly nodeId?: string;
  readonly bytes: number;
  /** Names the image for the chunk requests. */
  readonly id: string;
  readonly chunkBytes: number;
}

export interface ExportDeps {
  readonly shard: string;
  readonly nodeId?: string;
  readonly store: LmdbStore;
  /** A linearizable read (ReadIndex on a leader); absent on a single node, where every acknowledged write is already in LMDB. */
  readonly barrier?: (c: Command) => Promise<CommandResult>;
}

export interface ExportCacheOptions {
  /** Bytes per chunk reply. Default 1 MiB (well under the server's 8 MiB output bound). */
  readonly chunkBytes?: number;
  /** Images kept at once; the oldest is dropped beyond. Default 2. */
  readonly imagesMax?: number;
  /** An image not read for this long is dropped. Default 60,000 ms. */
  readonly idleMs?: number;
  /** Where images wait while they are fetched (a node passes its data dir). Default os.tmpdir(). */
  readonly dir?: string;
  /**
   * Whether `bytes` more may be written to `dir` (a node: its disk guard's reserve stays free
   * for the Raft log). Asked with the state's page bytes, an image's upper bound. Default: yes.
   */
  readonly room?: (bytes: number) => boolean;
}

interface Held {
  readonly image: ExportFile;
  lastUsedMs: number;
}

const stopping = (): CommandResult => errorResult(ErrorCode.SHUTTING_DOWN, 'the node is stopping');

/** Bytes of the image's start read for its applied index (its meta keys sort first). */
const HEAD_READ_BYTES = 64 * 1024;

/** SEQDB.EXPORT of one node. */
export class Exporter {
  private readonly held = new Map<string, Held>();
  /**
   * The state exports being written now (ExportFile.write takes several turns of the loop), each
   * holding a read transaction that must end before the store closes.
   */
  private readonly writing = new Set<Generator<Buffer>>();
  private closed = false;
  private readonly chunkBytes: number;
  private readonly imagesMax: number;
  private readonly idleMs: number;
  private readonly dir: string;
  private readonly room: (bytes: number) => boolean;

  /** `deps` returns null while the node is not part of a shard yet (NOTLEADER, like data commands). */
  constructor(private readonly shard: string, private readonly deps: () => ExportDeps | null, o: ExportCacheOptions = {}) {
    this.chunkBytes = o.chunkBytes ?? 1 << 20;
    this.imagesMax = o.imagesMax ?? 2;
    this.idleMs = o.idleMs ?? 60_000;
    this.dir = o.dir ?? tmpdir();
    this.room = o.room ?? (() => true);
  }

  /** The SEQDB.EXPORT handler: no arguments starts an export, `<id> <offset>` reads a chunk. */
  handle(args: readonly Buffer[]): Promise<CommandResult> {
    if (args.length === 1) return this.start();
    if (args.length === 3) return Promise.resolve(this.chunk(args[1]!.toString('latin1'), args[2]!.toString('latin1')));
    return Promise.resolve(errorResult(ErrorCode.WRONG_ARITY, "wrong number of arguments for 'seqdb.export'"));
  }

  private async start(): Promise<CommandResult> {
    const d = this.deps();
    if (d === null) return errorResult(ErrorCode.NOT_LEADER, `${this.shard} ?`);
    if (d.barrier !== undefined) {
      const refused = await readBarrier(d.barrier);
      if (refused !== null) return refused;
    }
    if (this.closed) return stopping();
    this.expire();
    // Images being written count toward the bound (each is a file as large as the state).
    if (this.writing.size >= this.imagesMax) return errorResult(ErrorCode.BUSY, `${this.writing.size} export images are being written: try again`);
    while (this.held.size > 0 && this.held.size + this.writing.size >= this.imagesMax) this.drop(this.held.keys().next().value!);
    // Room for this image and for the rest of those still being written (each up to the state's size).
    if (!this.room(d.store.usedBytes() * (this.writing.size + 1))) return errorResult(ErrorCode.NO_SPACE, 'no room on disk for the export image above the reserve');
    let image: ExportFile;
    // One reused chunk buffer: the file keeps the image.
    const state = d.store.exportSnapshot(SLICE_BYTES, true);
    this.writing.add(state);
    try {
      image = await ExportFile.write(this.dir, state, () => this.closed);
    } catch (err) {
      if (this.closed) return stopping();
      const code = (err as NodeJS.ErrnoException).code;
      return errorResult(code === 'ENOSPC' ? ErrorCode.NO_SPACE : ErrorCode.STORAGE, `export image not written: ${(err as Error).message}`);
    } finally {
      this.writing.delete(state);
    }
    if (this.closed) {
      image.close();
      return stopping();
    }
    const id = randomBytes(8).toString('hex');
    this.held.set(id, { image, lastUsedMs: monoNowMs() });
    const header: ExportHeader = { shard: d.shard, index: imageIndex(image.chunks(HEAD_READ_BYTES)), bytes: image.bytes, id, chunkBytes: this.chunkBytes, ...(d.nodeId ? { nodeId: d.nodeId } : {}) };
    return { type: 'bulk', value: Buffer.from(JSON.stringify(header)) };
  }

  private chunk(id: string, offsetText: string): CommandResult {
    this.expire();
    const held = this.held.get(id);
    const offset = Number(offsetText);
    if (held === undefined) return errorResult(ErrorCode.TRY_AGAIN, `export ${id.slice(0, 16)} expired or unknown: start again`);
    if (!/^[0-9]+$/.test(offsetText) || offset > held.image.bytes) return errorResult(ErrorCode.SYNTAX, 'bad offset');
    held.lastUsedMs = monoNowMs();
    const value = held.image.read(offset, this.chunkBytes);
    if (offset + value.length === held.image.bytes) this.drop(id); // the last chunk: done with it
    return { type: 'bulk', value };
  }

  /** Images held now (tests). */
  get heldCount(): number {
    return this.held.size;
  }

  /** Drops every image (the node stops). */
  close(): void {
    this.closed = true;
    for (const id of [...this.held.keys()]) this.drop(id);
    // Ends their read transactions now, before the store closes; each write then fails.
    for (const state of this.writing) state.return(undefined);
  }

  private drop(id: string): void {
    this.held.get(id)?.image.close();
    this.held.delete(id);
  }

  private expire(): void {
    const now = monoNowMs();
    for (const [id, h] of this.held) if (now - h.lastUsedMs > this.idleMs) this.drop(id);
  }
}

/**
 * The applied index recorded inside a snapshot image (0 on a single node), from its chunks: read
 * only up to that key, which sorts among the first.
 */
export function imageIndex(chunks: Iterable<Uint8Array>): number {
  for (const { key, value } of decodeSnapshot(chunks)) if (key.equals(META.appliedIndex)) return Number(readU64(value));
  return 0;
}
