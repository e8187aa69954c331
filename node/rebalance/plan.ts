/**
 * What a rebalance must do, computed from the committed catalog only: the target placement is
 * the ketama ring over the committed shard ids that are not draining (planSlots), and a move is
 * a batch of slots with one source and one target. Pure.
 */
import { planSlots, slotsToMove } from '../../shared/placement/ring.ts';
import { slotCount } from '../../shared/placement/slot.ts';
import type { CatalogView } from '../ownership/catalog.ts';

export interface MoveBatch {
  readonly from: string;
  readonly to: string;
  readonly slots: readonly number[];
}

export interface RebalancePlan {
  /** Shards the target placement is spread over. */
  readonly active: readonly string[];
  /** Slots whose owner must change. */
  readonly moving: number;
  /** Per source -> target pair, how many slots. */
  readonly pairs: readonly { readonly from: string; readonly to: string; readonly slots: number }[];
  /** Per shard: slots owned now and afterwards. */
  readonly shares: readonly { readonly id: string; readonly now: number; readonly after: number }[];
  /** The batches, in order (each within `batchSlotsMax`). */
  readonly batches: readonly MoveBatch[];
}

/** Slots per move batch by default: one FREEZE/IMPORT each; data bounds split them further. */
export const BATCH_SLOTS_DEFAULT = 1024;

export function ownersOf(view: CatalogView): (string | null)[] {
  const owners = new Array<string | null>(slotCount).fill(null);
  for (const s of view.shards) for (const slot of s.slots.slots()) owners[slot] = s.id;
  return owners;
}

export function planRebalance(view: CatalogView, draining: readonly string[], batchSlotsMax = BATCH_SLOTS_DEFAULT): RebalancePlan {
  const active = view.shards.map((s) => s.id).filter((id) => !draining.includes(id));
  if (active.length === 0) throw new RangeError('no shard left to place slots on');
  const current = ownersOf(view);
  const target = planSlots(active);
  const moves = slotsToMove(current, target).filter((slot) => current[slot] !== null);
  const byPair = new Map<string, number[]>();
  for (const slot of moves) {
    const key = `${current[slot]}\u0000${target[slot]}`;
    const list = byPair.get(key) ?? [];
    list.push(slot);
    byPair.set(key, list);
  }
  const pairs: { from: string; to: string; slots: number }[] = [];
  const batches: MoveBatch[] = [];
  for (const [key, slots] of byPair) {
    const [from, to] = key.split('\u0000') as [string, string];
    pairs.push({ from, to, slots: slots.length });
    for (let i = 0; i < slots.length; i += batchSlotsMax) batches.push({ from, to, slots: slots.slice(i, i + batchSlotsMax) });
  }
  // Alternate sources, so no one shard carries a long run of consecutive freezes.
  const ranks = new Map(batches.map((b) => [b, batchRank(batches, b)]));
  batches.sort((a, b) => ranks.get(a)! - ranks.get(b)!);
  const ids = [...new Set([...view.shards.map((s) => s.id)])].sort();
  const shares = ids.map((id) => ({
    id,
    now: current.filter((o) => o === id).length,
    after: draining.includes(id) ? 0 : target.filter((o) => o === id).length,
  }));
  return { active, moving: moves.length, pairs, shares, batches };
}

function batchRank(all: readonly MoveBatch[], batch: MoveBatch): number {
  const sameSource = all.filter((b) => b.from === batch.from);
  return sameSource.indexOf(batch) * 1000 + [...new Set(all.map((b) => b.from))].indexOf(batch.from);
}

/** `--dry-run` text. */
export function formatPlan(plan: RebalancePlan): string {
  const lines = [`plan: ${plan.moving} of ${slotCount} slots move (${((plan.moving * 100) / slotCount).toFixed(1)}%) in ${plan.batches.length} batches, placement over shards ${plan.active.join(', ')}`];
  for (const p of plan.pairs) lines.push(`  shard ${p.from} -> shard ${p.to}: ${p.slots} slots`);
  for (const s of plan.shares) lines.push(`  shard ${s.id}: ${s.now} slots now, ${s.after} after`);
  return lines.join('\n');
}
