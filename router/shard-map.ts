/**
 * The router's cache of placement: which shard owns each slot (from the catalog's committed
 * table), each shard's member addresses, and the leader last seen. Only a cache: the shards
 * fence every command themselves, so a stale map costs a redirect, never a wrong answer.
 */
import { slotCount } from '../shared/placement/slot.ts';
import { planSlots } from '../shared/placement/ring.ts';
import type { CatalogView } from '../node/ownership/catalog.ts';

export interface ShardEntry {
  readonly id: string;
  /**
   * Where the shard's members are: what its leader registered in the catalog, plus NOTLEADER
   * hints from those members. Never mDNS announcements: anyone on the link can announce, and
   * a data command sent to an impostor could come back with a made-up number.
   */
  readonly members: Set<string>;
  leader: string | null;
  slots: number;
  /** Listed in the last catalog installed (discovery alone can add entries that are not). */
  inCatalog: boolean;
  /** Round-robin cursor over members when the leader is unknown. */
  cursor: number;
}

/** Addresses kept per shard from hints (discovery can announce anything). */
const MEMBERS_MAX = 32;

export class ShardMap {
  private owners: (string | null)[] = new Array<string | null>(slotCount).fill(null);
  private readonly shards = new Map<string, ShardEntry>();
  epoch = 0;
  private plan: string[] = [];
  private planKey = '';

  /** Installs a fetched catalog unless it is older than what we have. */
  update(view: CatalogView): boolean {
    if (view.epoch < this.epoch) return false;
    const owners = new Array<string | null>(slotCount).fill(null);
    for (const e of this.shards.values()) e.inCatalog = false;
    for (const s of view.shards) {
      const entry = this.entry(s.id);
      // The shard's leader registered these (its Raft members); older hints are dropped.
      entry.members.clear();
      // A leader the catalog no longer lists may be an address another node now holds (a review:
      // a node of another shard on a dead leader's address pinned the router to it for good).
      if (entry.leader !== null && !s.addrs.includes(entry.leader)) entry.leader = null;
      if (entry.leader !== null) entry.members.add(entry.leader);
      for (const a of s.addrs) this.addMember(entry, a);
      entry.slots = s.slots.size;
      entry.inCatalog = true;
      for (const slot of s.slots.slots()) owners[slot] = s.id;
    }
    this.owners = owners;
    this.epoch = view.epoch;
    return true;
  }

  /**
   * Fraction of slots whose committed owner is the shard the ring plans for them over the
   * catalog's shards: 1 at rest, lower after a shard joins, back to 1 as a rebalance completes.
   */
  placedRatio(): number {
    const ids = this.list().filter((s) => s.inCatalog).map((s) => s.id);
    if (ids.length === 0) return 0;
    const key = ids.join('\u0000');
    if (this.planKey !== key) {
      this.plan = planSlots(ids);
      this.planKey = key;
    }
    let placed = 0;
    for (let slot = 0; slot < slotCount; slot++) if (this.owners[slot] === this.plan[slot]) placed++;
    return placed / slotCount;
  }

  ownerOf(slot: number): ShardEntry | null {
    const id = this.owners[slot];
    return id === null || id === undefined ? null : (this.shards.get(id) ?? null);
  }

  get(id: string): ShardEntry | undefined {
    return this.shards.get(id);
  }

  list(): ShardEntry[] {
    return [...this.shards.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  entry(id: string): ShardEntry {
    let e = this.shards.get(id);
    if (e === undefined) {
      e = { id, members: new Set(), leader: null, slots: 0, inCatalog: false, cursor: 0 };
      this.shards.set(id, e);
    }
    return e;
  }

  addMember(entry: ShardEntry, address: string): void {
    if (entry.members.has(address) || entry.members.size >= MEMBERS_MAX) return;
    entry.members.add(address);
  }

  /** `address` answered as a node of another shard: not a member of `entry` (until a catalog says so). */
  dropMember(entry: ShardEntry, address: string): void {
    entry.members.delete(address);
    if (entry.leader === address) entry.leader = null;
  }

  /** Where to send a command for `entry` next: the leader if known, else the next member. */
  target(entry: ShardEntry): string | null {
    if (entry.leader !== null) return entry.leader;
    const members = [...entry.members];
    if (members.length === 0) return null;
    // The same member until it fails (passOver): commands of a bucket sent one behind the
    // other must reach the same node, or the later may be run first (a review).
    entry.cursor %= members.length;
    return members[entry.cursor]!;
  }

  /** `address`, tried while no leader was known, did not serve: the next target() tries the next member. */
  passOver(entry: ShardEntry, address: string): void {
    const members = [...entry.members];
    if (members.length > 0 && members[entry.cursor % members.length] === address) entry.cursor = (entry.cursor + 1) % members.length;
  }
}
