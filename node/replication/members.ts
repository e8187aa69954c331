/**
 * Who is in the shard and where they listen. The core knows ids only (ConfState); addresses
 * travel in the ConfChange context (addLearner carries the joiner's address) and in the snapshot
 * envelope, so every replica derives the same map from the log. Removed ids are remembered
 * forever (ids are never reused) so that their peer traffic can be refused.
 *
 * Snapshot envelope: "SQRS" | u32 jsonLen | {members, removed} JSON | state machine image.
 */
import { decodeConfChange } from '../raft/conf-change-codec.ts';
import { EntryType, type Entry, type NodeId } from '../raft/types.ts';

const MAGIC = Buffer.from('SQRS', 'latin1');
/**
 * Most addresses kept for ids that no conf change or snapshot named (default 256). Any process
 * that knows the cluster and shard names (mDNS tells them) may send hellos under new ids when
 * no cluster secret is set: those must not grow the table, nor the records persisted from it.
 */
export const STRANGERS_MAX = 256;

export interface MembersImage {
  readonly members: Record<NodeId, string>;
  readonly removed: NodeId[];
}

export class Members {
  private readonly addrs = new Map<NodeId, string>();
  private readonly removedIds = new Set<NodeId>();
  /**
   * Where ids the log has not named (yet) said they listen, oldest first; not persisted. Kept at
   * all because a follower may have to answer a leader added by a conf change it has not
   * received yet, and it learns where that leader listens only from its hello.
   */
  private readonly strangers = new Map<NodeId, string>();
  /** Bumped on every change, so the owner knows when to persist the map. */
  version = 0;

  constructor(private readonly selfId: NodeId, private readonly selfAddr: string) {
    this.addrs.set(selfId, selfAddr);
  }

  addressOf(id: NodeId): string | undefined {
    return this.addrs.get(id) ?? this.strangers.get(id);
  }

  isRemoved(id: NodeId): boolean {
    return this.removedIds.has(id);
  }

  /** A peer that passed the cluster/shard check told us (hello line) where it listens now. */
  learnAddress(id: NodeId, addr: string): void {
    if (this.removedIds.has(id) || this.addrs.get(id) === addr) return;
    if (!this.addrs.has(id)) {
      this.strangers.delete(id); // re-inserted last: the oldest goes first
      this.strangers.set(id, addr);
      if (this.strangers.size > STRANGERS_MAX) this.strangers.delete(this.strangers.keys().next().value!);
      return;
    }
    this.addrs.set(id, addr);
    this.version++;
  }

  /** Records the effect of one committed entry (a no-op for normal entries). */
  applyEntry(e: Entry): void {
    if (e.type !== EntryType.ConfChange) return;
    let cc;
    try {
      cc = decodeConfChange(e.data);
    } catch {
      return; // the core ignores it identically
    }
    this.version++;
    if (cc.type === 'remove') {
      this.removedIds.add(cc.nodeId);
      this.strangers.delete(cc.nodeId);
      if (cc.nodeId !== this.selfId) this.addrs.delete(cc.nodeId);
    } else if (cc.context && !this.removedIds.has(cc.nodeId) && cc.nodeId !== this.selfId) {
      this.strangers.delete(cc.nodeId);
      this.addrs.set(cc.nodeId, cc.context);
    }
  }

  image(): MembersImage {
    return { members: Object.fromEntries(this.addrs), removed: [...this.removedIds] };
  }

  restore(img: MembersImage): void {
    this.addrs.clear();
    for (const [id, addr] of Object.entries(img.members)) this.addrs.set(id, addr);
    this.addrs.set(this.selfId, this.selfAddr);
    this.removedIds.clear();
    for (const id of img.removed) this.removedIds.add(id);
    for (const id of this.strangers.keys()) if (this.addrs.has(id) || this.removedIds.has(id)) this.strangers.delete(id);
    this.version++;
  }
}

export function wrapSnapshot(members: MembersImage, stateImage: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat([snapshotEnvelopeHead(members), ...stateImage]);
}

/** The envelope's head (magic, length, members JSON); the state image's chunks follow it. */
export function snapshotEnvelopeHead(members: MembersImage): Buffer {
  const json = Buffer.from(JSON.stringify(members), 'utf8');
  const head = Buffer.allocUnsafe(8);
  MAGIC.copy(head, 0);
  head.writeUInt32BE(json.length, 4);
  return Buffer.concat([head, json]);
}

export function unwrapSnapshot(data: Uint8Array): { members: MembersImage; state: Uint8Array } | null {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 8 || !b.subarray(0, 4).equals(MAGIC)) return null;
  const len = b.readUInt32BE(4);
  if (8 + len > b.length) return null;
  try {
    const members = JSON.parse(b.subarray(8, 8 + len).toString('utf8')) as MembersImage;
    return { members, state: b.subarray(8 + len) };
  } catch {
    return null;
  }
}

/**
 * unwrapSnapshot over an image in chunks: reads the envelope from the first chunks and leaves
 * the rest of `chunks` (the state image) to be read from `state`. Null if there is no envelope.
 */
export function unwrapSnapshotChunks(chunks: Iterator<Uint8Array>): { members: MembersImage; state: Iterable<Uint8Array> } | null {
  let head: Buffer = Buffer.alloc(0);
  const want = (): number => (head.length < 8 ? 8 : 8 + head.readUInt32BE(4));
  const none = (): null => {
    chunks.return?.();
    return null;
  };
  while (head.length < want()) {
    const next = chunks.next();
    if (next.done === true) return none();
    const b = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    // Copied: the reader may reuse a chunk's buffer for the next (ChunkReading.reuse). The head
    // is the envelope and at most one chunk of the state; the rest is never copied.
    head = Buffer.concat([head, b]);
    if (head.length >= 4 && !head.subarray(0, 4).equals(MAGIC)) return none();
  }
  const env = unwrapSnapshot(head.subarray(0, want()));
  if (env === null) return none();
  const rest = head.subarray(want());
  const state = (function* (): Generator<Uint8Array> {
    try {
      if (rest.length > 0) yield rest;
      for (let next = chunks.next(); next.done !== true; next = chunks.next()) yield next.value;
    } finally {
      chunks.return?.(); // a reader that stops early releases what holds the chunks
    }
  })();
  return { members: env.members, state };
}
