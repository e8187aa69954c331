/**
 * The catalog: the committed list of shards and the committed slot table, kept in the state
 * machine of the catalog shard (id "1"). Placement is planned by the ketama ring over the
 * committed shard ids (shared/placement/ring.ts) but a slot is owned only where this table says.
 *
 * Rules (deterministic, applied in the catalog shard's log):
 * - register: adds a shard, or refreshes its address hints. Never changes the table.
 * - initSlots: the first one builds the table from the plan over the shards registered at that
 *   moment (config epoch 1); every later one is a no-op. Shards registered afterwards own nothing
 *   until a rebalance (issue 6) moves slots to them with a newer epoch.
 */
import { slotCount } from '../../shared/placement/slot.ts';
import { planSlots } from '../../shared/placement/ring.ts';
import type { KvReader, KvTxn } from '../state-machine/kv.ts';
import { CAT, readU64, u64 } from './keys.ts';
import { SlotSet } from './slot-set.ts';
import { REGISTER_ADDRS_MAX, isValidShardId } from './cluster-command.ts';

/** Shards a catalog reply may list (a bound on what a router accepts from the network). */
export const CATALOG_SHARDS_MAX = 1024;

/** The shard whose state machine holds the catalog. */
export const CATALOG_SHARD_ID = '1';

export interface ShardRecord {
  readonly id: string;
  /** Address hints of the shard's members (host:port), as its leader last registered them. */
  readonly addrs: readonly string[];
}

export interface CatalogView {
  /** 0 while the slot table is not initialized. */
  readonly epoch: number;
  readonly shards: readonly (ShardRecord & { readonly slots: SlotSet })[];
}

export function readShards(kv: KvReader): ShardRecord[] {
  const bytes = kv.get(CAT.shards);
  return bytes === undefined ? [] : (JSON.parse(bytes.toString('utf8')) as ShardRecord[]);
}

/** Adds or refreshes a shard; returns the catalog epoch (unchanged by registration). */
export function registerShard(txn: KvTxn, shard: string, addrs: readonly string[]): number {
  const shards = readShards(txn);
  const existing = shards.find((s) => s.id === shard);
  const sorted = [...new Set(addrs)].sort();
  if (existing === undefined || existing.addrs.join(',') !== sorted.join(',')) {
    const next = shards.filter((s) => s.id !== shard).concat({ id: shard, addrs: sorted });
    next.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    txn.put(CAT.shards, Buffer.from(JSON.stringify(next)));
  }
  return catalogEpoch(txn);
}

export function catalogEpoch(kv: KvReader): number {
  return readU64(kv.get(CAT.epoch));
}

/** First writer wins: builds the table once; returns the epoch in force, or 0 with no shards. */
export function initSlots(txn: KvTxn): number {
  const epoch = catalogEpoch(txn);
  if (epoch > 0) return epoch;
  const ids = readShards(txn).map((s) => s.id);
  if (ids.length === 0) return 0;
  const plan = planSlots(ids);
  const ownerIds = [...new Set(plan)].sort();
  const owners = Buffer.alloc(slotCount * 2);
  for (let slot = 0; slot < slotCount; slot++) owners.writeUInt16BE(ownerIds.indexOf(plan[slot]!), slot * 2);
  txn.put(CAT.ownerIds, Buffer.from(JSON.stringify(ownerIds)));
  txn.put(CAT.owners, owners);
  txn.put(CAT.epoch, u64(1));
  return 1;
}

/** The committed owner of every slot (null everywhere before initialization). */
export function slotTable(kv: KvReader): (string | null)[] {
  const owners = kv.get(CAT.owners);
  const idsBytes = kv.get(CAT.ownerIds);
  if (owners === undefined || idsBytes === undefined) return new Array<string | null>(slotCount).fill(null);
  const ids = JSON.parse(idsBytes.toString('utf8')) as string[];
  const table = new Array<string | null>(slotCount);
  for (let slot = 0; slot < slotCount; slot++) table[slot] = ids[owners.readUInt16BE(slot * 2)] ?? null;
  return table;
}

export function readCatalog(kv: KvReader): CatalogView {
  const table = slotTable(kv);
  const shards = readShards(kv).map((s) => ({ ...s, slots: new SlotSet() }));
  const byId = new Map(shards.map((s) => [s.id, s.slots]));
  table.forEach((owner, slot) => {
    if (owner !== null) byId.get(owner)?.add(slot);
  });
  return { epoch: catalogEpoch(kv), shards };
}

/** Wire form of a catalog (the CLUSTER CATALOG reply): JSON with base64 slot bitmaps. */
export function catalogToJson(view: CatalogView): string {
  return JSON.stringify({
    epoch: view.epoch,
    shards: view.shards.map((s) => ({ id: s.id, addrs: s.addrs, slots: s.slots.toBase64() })),
  });
}

/** Strict parse of a CLUSTER CATALOG reply (it crosses the network); null when malformed. */
export function catalogFromJson(text: string): CatalogView | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const r = raw as { epoch?: unknown; shards?: unknown };
  if (typeof r !== 'object' || r === null || !Number.isSafeInteger(r.epoch) || !Array.isArray(r.shards)) return null;
  if (r.shards.length > CATALOG_SHARDS_MAX) return null;
  const shards: (ShardRecord & { slots: SlotSet })[] = [];
  for (const s of r.shards as unknown[]) {
    const e = s as { id?: unknown; addrs?: unknown; slots?: unknown };
    if (typeof e !== 'object' || e === null || typeof e.id !== 'string' || typeof e.slots !== 'string') return null;
    if (!isValidShardId(e.id) || shards.some((x) => x.id === e.id)) return null;
    if (!Array.isArray(e.addrs) || e.addrs.length > REGISTER_ADDRS_MAX || !e.addrs.every((a) => typeof a === 'string' && a.length <= 80)) return null;
    const slots = SlotSet.fromBase64(e.slots);
    if (slots === null) return null;
    shards.push({ id: e.id, addrs: e.addrs as string[], slots });
  }
  return { epoch: r.epoch as number, shards };
}
