/**
 * Where ownership and catalog records live inside the state machine's key space (so they are
 * written in the same LMDB transaction as the commands they fence, and travel in snapshots).
 * Tags 0x10 and 0x11 are reserved for them next to node/state-machine/keys.ts's 0x00..0x03.
 *
 *   0x10 "mode"    -> shard id: this state belongs to a shard of a sharded cluster (checks on)
 *   0x10 "epoch"   -> u64: epoch of the ownership below (0/absent: none committed yet)
 *   0x10 "slots"   -> 2048-byte bitmap of owned slots
 *   0x11 "shards"  -> JSON [{id, addrs}] sorted by id (catalog shard only)
 *   0x11 "epoch"   -> u64 config epoch of the slot table (0/absent: not initialized)
 *   0x11 "owners"  -> 16384 x u16: index into "ownerIds" per slot
 *   0x11 "ownerIds"-> JSON [shard id]
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
} as const;

export const CAT = {
  shards: key(SPACE_CATALOG, 'shards'),
  epoch: key(SPACE_CATALOG, 'epoch'),
  owners: key(SPACE_CATALOG, 'owners'),
  ownerIds: key(SPACE_CATALOG, 'ownerIds'),
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
