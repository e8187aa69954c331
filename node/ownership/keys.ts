/**
 * Where ownership and catalog records live inside the state machine's key space (so they are
 * written in the same LMDB transaction as the commands they fence, and travel in snapshots).
 * Tags 0x10 and 0x11 are reserved for them next to node/state-machine/keys.ts's 0x00..0x04.
 *
 *   0x10 "mode"    -> shard id: this state belongs to a shard of a sharded cluster (checks on)
 *   0x10 "epoch"   -> u64: epoch of the ownership below (0/absent: none committed yet)
 *   0x10 "slots"   -> 2048-byte bitmap of owned slots
 *   0x10 "frozen"  -> 2048-byte bitmap of owned slots frozen by a move out (writes: TRYAGAIN)
 *   0x10 "e" u16 slot -> u64: newest move epoch this shard committed anything for, per slot
 *   0x11 "shards"  -> JSON [{id, addrs}] sorted by id (catalog shard only)
 *   0x11 "epoch"   -> u64 config epoch of the slot table (0/absent: not initialized)
 *   0x11 "owners"  -> 16384 x u16: index into "ownerIds" per slot
 *   0x11 "ownerIds"-> JSON [shard id]
 *   0x11 "move"    -> JSON of the move in progress (move-catalog.ts), absent when none
 *   0x11 "draining"-> JSON [shard id]: shards being emptied by `seqdb shard remove`
 *   0x11 "retired" -> JSON [shard id]: removed shards (may not register again)
 */
export const SPACE_OWNERSHIP = 0x10;
export const SPACE_CATALOG = 0x11;

function key(space: number, name: string): Buffer {
  return Buffer.concat([Buffer.of(space), Buffer.from(name, 'ascii')]);
}

export const OWN = {
  mode: key(SPACE_OWNERSHIP, 'mode'),
  epoch: key(SPACE_OWNERSHIP, 'epoch'),
  slots: key(SPACE_OWNERSHIP, 'slots'),
  frozen: key(SPACE_OWNERSHIP, 'frozen'),
} as const;

/** Per-slot move epoch key (the epoch guard of node/ownership/move-shard.ts). */
export function slotEpochKey(slot: number): Buffer {
  const out = Buffer.alloc(4);
  out[0] = SPACE_OWNERSHIP;
  out[1] = 0x65; // 'e'
  out.writeUInt16BE(slot, 2);
  return out;
}

export const CAT = {
  shards: key(SPACE_CATALOG, 'shards'),
  epoch: key(SPACE_CATALOG, 'epoch'),
  owners: key(SPACE_CATALOG, 'owners'),
  ownerIds: key(SPACE_CATALOG, 'ownerIds'),
  move: key(SPACE_CATALOG, 'move'),
  draining: key(SPACE_CATALOG, 'draining'),
  retired: key(SPACE_CATALOG, 'retired'),
} as const;

export function u64(value: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(BigInt(value), 0);
  return out;
}

export function readU64(bytes: Buffer | undefined): number {
  if (bytes === undefined) return 0;
  return Number(bytes.readBigUInt64BE(0));
}
