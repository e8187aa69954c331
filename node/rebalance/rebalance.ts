/**
 * `seqdb rebalance` and `seqdb shard remove`: finds the catalog through a router, finishes or
 * rolls back the move a previous run left in the catalog, then moves batches of slots until the
 * committed table matches the ring over the committed, non-draining shards. All the state is in
 * the catalog's move record and the shards' committed move steps: kill this process at any
 * point and run it again.
 */
import { slotCount } from '../../shared/placement/slot.ts';
import { CATALOG_SHARD_ID, catalogFromJson, type CatalogView } from '../ownership/catalog.ts';
import { SlotSet } from '../ownership/slot-set.ts';
import { runMove, type MoverContext, type MoveOutcome, type MoveSpec, type MoveStep } from './mover.ts';
import { BATCH_SLOTS_DEFAULT, formatPlan, planRebalance, type RebalancePlan } from './plan.ts';
import type { ProgressSink } from './progress.ts';
import { ShardClient } from './shard-client.ts';
import type { InternalDialOptions } from '../../shared/security/internal-options.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

export interface RebalanceOptions {
  /** A router's host:port: where to find the catalog shard. */
  readonly router: string;
  /** Print the plan and change nothing. */
  readonly dryRun?: boolean;
  /** `seqdb shard remove`: drain this shard, then take it off the list. */
  readonly remove?: string;
  /** Slots per move. Default 1024 (BATCH_SLOTS_DEFAULT). */
  readonly batchSlotsMax?: number;
  readonly progress?: ProgressSink;
  readonly log: (line: string) => void;
  /** Cluster secret and TLS for the connections to routers and nodes. Default: none. */
  readonly dial?: InternalDialOptions;
  /** Test hook: called after each committed step of each move. */
  readonly afterStep?: (step: MoveStep, move: MoveSpec) => Promise<void> | void;
}

export interface RebalanceReport {
  readonly plan: RebalancePlan;
  readonly moves: readonly MoveOutcome[];
  readonly slotsMoved: number;
  readonly elapsedMs: number;
  /** Write-unavailability window of each moved slot (its batch's FREEZE -> RELEASE), ms. */
  readonly slotWindowsMs: readonly number[];
}

interface MoveStatus {
  epoch: number;
  move: { epoch: number; from: string; to: string; slots: string; state: MoveSpec['state'] } | null;
  draining: string[];
}

export class RebalanceError extends Error {
  override readonly name = 'RebalanceError';
}

export async function rebalance(o: RebalanceOptions): Promise<RebalanceReport> {
  const client = new ShardClient(o.dial !== undefined ? { dial: o.dial } : {});
  try {
    return await run(o, client);
  } finally {
    client.close();
  }
}

async function run(o: RebalanceOptions, client: ShardClient): Promise<RebalanceReport> {
  const startMs = monoNowMs();
  const addrs = new Map<string, string[]>([[CATALOG_SHARD_ID, await catalogSeeds(client, o.router)]]);
  const addrsOf = (shard: string): string[] => addrs.get(shard) ?? [];
  const catalogCall = async (args: string[]): Promise<Buffer> => {
    const r = await client.call(CATALOG_SHARD_ID, () => addrsOf(CATALOG_SHARD_ID), args);
    if (r.kind !== 'string') throw new RebalanceError(`${args.join(' ')} answered ${r.kind}`);
    return r.value;
  };
  const fetchView = async (): Promise<CatalogView> => {
    const view = catalogFromJson((await catalogCall(['CLUSTER', 'CATALOG'])).toString('utf8'));
    if (view === null) throw new RebalanceError('malformed catalog');
    if (view.epoch === 0) throw new RebalanceError('the slot table is not initialized yet');
    for (const s of view.shards) {
      // Keep what we learned (NOTLEADER hints live in the client); add the registered addresses.
      addrs.set(s.id, [...new Set([...s.addrs, ...(s.id === CATALOG_SHARD_ID ? addrsOf(CATALOG_SHARD_ID) : [])])]);
    }
    return view;
  };
  const fetchStatus = async (): Promise<MoveStatus> => JSON.parse((await catalogCall(['CLUSTER', 'MOVE'])).toString('utf8')) as MoveStatus;
  const ctx: MoverContext = { client, addrsOf, log: o.log, ...(o.afterStep ? { afterStep: o.afterStep } : {}) };
  const batch = o.batchSlotsMax ?? BATCH_SLOTS_DEFAULT;

  let view = await fetchView();
  let status = await fetchStatus();
  if (o.remove !== undefined && !view.shards.some((s) => s.id === o.remove)) {
    throw new RebalanceError(`shard ${o.remove} is not in the catalog`);
  }
  const draining = (): string[] => [...new Set([...status.draining, ...(o.remove !== undefined ? [o.remove] : [])])];
  let plan = planRebalance(view, draining(), batch);
  if (o.dryRun) {
    o.log(formatPlan(plan));
    if (status.move !== null) o.log(`a move is in progress (epoch ${status.move.epoch}, shard ${status.move.from} -> ${status.move.to}, ${status.move.state}): a real run finishes or rolls it back first`);
    return { plan, moves: [], slotsMoved: 0, elapsedMs: monoNowMs() - startMs, slotWindowsMs: [] };
  }
  if (o.remove !== undefined) await catalogCall(['CLUSTER', 'DRAIN', o.remove]);

  const moves: MoveOutcome[] = [];
  const windows: number[] = [];
  let moved = 0;
  const record = (outcome: MoveOutcome, total: number): void => {
    moves.push(outcome);
    if (outcome.result === 'moved') {
      moved += outcome.move.slots.size;
      if (outcome.windowMs !== null) for (let i = 0; i < outcome.move.slots.size; i++) windows.push(outcome.windowMs);
    }
    o.progress?.update({
      moved, total, elapsedMs: monoNowMs() - startMs,
      note: `${outcome.result} ${outcome.move.slots.size} slots shard ${outcome.move.from} -> ${outcome.move.to} (epoch ${outcome.move.epoch})${outcome.windowMs === null ? '' : ` frozen ${outcome.windowMs} ms`}`,
    });
  };

  if (status.move !== null) {
    const m = status.move;
    o.log(`resuming the move of epoch ${m.epoch} (shard ${m.from} -> ${m.to}, ${m.state})`);
    const resumed = await runMove(ctx, { ...m, slots: SlotSet.fromBase64(m.slots)! });
    record(resumed, plan.moving);
    if (resumed.result === 'aborted') o.log(`the interrupted move was rolled back (${resumed.why ?? ''})`);
    view = await fetchView();
    status = await fetchStatus();
    plan = planRebalance(view, draining(), batch);
  }

  const total = moved + plan.moving;
  o.log(formatPlan(plan));
  // Bounded: each round moves one batch; replanning from the committed table each time.
  for (let round = 0; round < plan.batches.length * 2 + 16; round++) {
    if (round > 0) {
      view = await fetchView();
      status = await fetchStatus();
    }
    const current = round === 0 ? plan : planRebalance(view, draining(), batch);
    const next = current.batches[0];
    if (next === undefined) break;
    const begun = JSON.parse((await catalogCall(['CLUSTER', 'MOVEBEGIN', next.from, next.to, SlotSet.of(next.slots).toBase64()])).toString('utf8')) as NonNullable<MoveStatus['move']>;
    const spec: MoveSpec = { ...begun, slots: SlotSet.fromBase64(begun.slots)! };
    await o.afterStep?.('begin', spec);
    const outcome = await runMove(ctx, spec);
    record(outcome, total);
    if (outcome.result === 'aborted') throw new RebalanceError(`move of epoch ${spec.epoch} was rolled back: ${outcome.why ?? ''}`);
  }
  o.progress?.finish();

  view = await fetchView();
  const left = planRebalance(view, draining(), batch).moving;
  if (left > 0) throw new RebalanceError(`${left} slots are still misplaced after the bounded number of rounds; run again`);
  if (o.remove !== undefined) {
    await catalogCall(['CLUSTER', 'FORGET', o.remove]);
    o.log(`shard ${o.remove} owns nothing and left the shard list; stop its nodes`);
  }
  return { plan, moves, slotsMoved: moved, elapsedMs: monoNowMs() - startMs, slotWindowsMs: windows };
}

/** Addresses of catalog-shard nodes, from the router's INFO (`shard_1:leader=..,members=a|b`). */
async function catalogSeeds(client: ShardClient, router: string): Promise<string[]> {
  const r = await client.once(router, ['INFO']);
  if (r === null || r.kind !== 'string') throw new RebalanceError(`no INFO from router ${router}`);
  const lines = r.value.toString('utf8').split(/\r?\n/);
  // Steps go only to nodes of the router's cluster: an address reused by another cluster's node
  // must not take them (SEQDB.IDENT).
  const cluster = lines.find((l) => l.startsWith('cluster:'))?.slice('cluster:'.length);
  if (cluster !== undefined && cluster !== '') client.useCluster(cluster);
  const line = lines.find((l) => l.startsWith(`shard_${CATALOG_SHARD_ID}:`));
  if (line === undefined) throw new RebalanceError(`router ${router} does not know shard ${CATALOG_SHARD_ID} yet (is the cluster up?)`);
  const fields = Object.fromEntries(line.slice(line.indexOf(':') + 1).split(',').map((kv) => kv.split('=') as [string, string]));
  const members = (fields.members ?? '').split('|').filter((a) => a !== '');
  return [...new Set([...(fields.leader && fields.leader !== '?' ? [fields.leader] : []), ...members])];
}

/** p-th percentile (0..100) of values, nearest rank; null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function formatReport(r: RebalanceReport): string {
  const p50 = percentile(r.slotWindowsMs, 50);
  const p99 = percentile(r.slotWindowsMs, 99);
  const max = r.slotWindowsMs.length === 0 ? null : Math.max(...r.slotWindowsMs);
  const aborted = r.moves.filter((m) => m.result === 'aborted').length;
  return [
    `rebalance done: ${r.slotsMoved} slots moved in ${r.moves.length - aborted} moves (${aborted} rolled back) in ${r.elapsedMs} ms`,
    `write-unavailability window per moved slot: p50 ${p50 ?? '-'} ms, p99 ${p99 ?? '-'} ms, max ${max ?? '-'} ms (of ${slotCount} slots, ${r.slotWindowsMs.length} measured)`,
  ].join('\n');
}
