/**
 * The node side of `seqdb backup`. `SEQDB.EXPORT` takes this shard's whole state as of one
 * committed index: on a replicated node the leader first completes a ReadIndex round (a GET
 * through Raft), so every write acknowledged before the request is applied, then copies the
 * state from ONE LMDB read transaction; the applied index inside that image is its index.
 *
 * The image is fetched in chunks, so that no reply outgrows a connection's output bound:
 *   SEQDB.EXPORT                 -> bulk JSON header {shard, index, bytes, id, chunkBytes}
 *   SEQDB.EXPORT <id> <offset>   -> bulk: up to chunkBytes of the image from offset
 * Images wait in a small per-node cache (bounded in count, dropped when idle).
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode } from '../../shared/errors.ts';
import { decodeSnapshot, errorResult, type Command, type CommandResult, type LmdbStore } from '../state-machine/index.ts';
import { META, readU64 } from '../state-machine/keys.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

export interface ExportHeader {
  readonly shard: string;
  readonly index: number;
  readonly nodeId?: string;
  readonly bytes: number;
  /** Names the image for the chunk requests. */
  readonly id: string;
  readonly chunkBytes: number;
}

/** Results of the barrier read that mean "not here / not now": passed back to the caller. */
const PASS_BACK = new Set<string>([ErrorCode.NOT_LEADER, ErrorCode.TRY_AGAIN, ErrorCode.BUSY, ErrorCode.SHUTTING_DOWN, ErrorCode.CLUSTER_DOWN, ErrorCode.STORAGE, ErrorCode.OUTCOME_UNKNOWN]);

const BARRIER: Command = { type: 'get', bucket: Buffer.from('\0seqdb-backup'), sequence: Buffer.from('\0') };

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
}

interface Held {
  readonly image: Buffer;
  lastUsedMs: number;
}

/** SEQDB.EXPORT of one node. */
export class Exporter {
  private readonly held = new Map<string, Held>();
  private readonly chunkBytes: number;
  private readonly imagesMax: number;
  private readonly idleMs: number;

  /** `deps` returns null while the node is not part of a shard yet (NOTLEADER, like data commands). */
  constructor(private readonly shard: string, private readonly deps: () => ExportDeps | null, o: ExportCacheOptions = {}) {
    this.chunkBytes = o.chunkBytes ?? 1 << 20;
    this.imagesMax = o.imagesMax ?? 2;
    this.idleMs = o.idleMs ?? 60_000;
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
      const r = await d.barrier(BARRIER);
      if (r.type === 'error' && PASS_BACK.has(r.code)) return r;
    }
    const image = Buffer.concat([...d.store.exportSnapshot()]);
    this.expire();
    while (this.held.size >= this.imagesMax) this.held.delete(this.held.keys().next().value!);
    const id = randomBytes(8).toString('hex');
    this.held.set(id, { image, lastUsedMs: monoNowMs() });
    const header: ExportHeader = { shard: d.shard, index: imageIndex(image), bytes: image.length, id, chunkBytes: this.chunkBytes, ...(d.nodeId ? { nodeId: d.nodeId } : {}) };
    return { type: 'bulk', value: Buffer.from(JSON.stringify(header)) };
  }

  private chunk(id: string, offsetText: string): CommandResult {
    this.expire();
    const held = this.held.get(id);
    const offset = Number(offsetText);
    if (held === undefined) return errorResult(ErrorCode.TRY_AGAIN, `export ${id.slice(0, 16)} expired or unknown: start again`);
    if (!/^[0-9]+$/.test(offsetText) || offset > held.image.length) return errorResult(ErrorCode.SYNTAX, 'bad offset');
    held.lastUsedMs = monoNowMs();
    const end = Math.min(held.image.length, offset + this.chunkBytes);
    if (end === held.image.length) this.held.delete(id); // the last chunk: done with it
    return { type: 'bulk', value: held.image.subarray(offset, end) };
  }

  private expire(): void {
    const now = monoNowMs();
    for (const [id, h] of this.held) if (now - h.lastUsedMs > this.idleMs) this.held.delete(id);
  }
}

/** The applied index recorded inside a snapshot image (0 on a single node). */
export function imageIndex(image: Buffer): number {
  for (const { key, value } of decodeSnapshot([image])) if (key.equals(META.appliedIndex)) return Number(readU64(value));
  return 0;
}
