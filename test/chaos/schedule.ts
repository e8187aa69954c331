/**
 * A seeded fault schedule: the same options give the same schedule, event for event. Faults come
 * one at a time after a quiet warm-up, each lasting a few seconds, and all end before a quiet
 * cool-down so the run finishes on a healed cluster.
 *
 * Targets are node positions within a shard (0..nodesPerShard-1). Faults aimed at "the leader"
 * are resolved when they fire; `nodes[0]` is the seeded fallback when no leader is known.
 */
import { Rng } from '../sim/rng.ts';

export const FAULT_KINDS = [
  'kill', 'kill-leader', 'kill-majority', 'pause', 'pause-leader', 'partition-half', 'isolate-leader', 'bridge',
  'loss', 'slow', 'link-down', 'transfer-leader', 'member-cycle', 'kill-router', 'pause-router',
  'rebalance', 'clock', 'partition-router', 'disk-fail', 'disk-stall', 'disk-tear', 'disk-full',
  'partition-clients', 'wire-flip',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Kinds that need a C compiler (the LD_PRELOAD fault libraries, test/helpers/io-fault.c, net-flip.c). */
export const CC_KINDS: ReadonlySet<FaultKind> = new Set(['disk-fail', 'disk-stall', 'disk-tear', 'wire-flip']);

/** Kinds that need nftables in the node (or router) namespaces. */
export const NFT_KINDS: ReadonlySet<FaultKind> = new Set(['partition-half', 'isolate-leader', 'bridge', 'loss', 'partition-router', 'partition-clients']);

export interface FaultEvent {
  readonly id: number;
  readonly kind: FaultKind;
  /** Shard position (0..shards-1). */
  readonly shard: number;
  readonly startMs: number;
  /** When it is undone (equal to startMs for instant faults such as a leader transfer). */
  readonly endMs: number;
  /** Node positions within the shard (router positions for router kinds): the targets, or for *-leader kinds the fallback/candidates. */
  readonly nodes: readonly number[];
  readonly lossPercent?: number;
  readonly rateKbit?: number;
  /** `clock`: how far the target node's wall clock is stepped (ms; back to true at the end). */
  readonly clockOffsetMs?: number;
  /** `disk-full`: bytes left free on the target node's disk (0: none at all). */
  readonly leaveBytes?: number;
}

export interface ScheduleOptions {
  readonly seed: number;
  readonly durationMs: number;
  readonly nodesPerShard: number;
  readonly shards: number;
  /** Routers in front (router faults need at least one). Default 0. */
  readonly routers?: number;
  /** Allowed kinds. Default: all. */
  readonly kinds?: readonly FaultKind[];
  /** No fault before this. Default 3000. */
  readonly warmupMs?: number;
  /** No fault in the last this-many ms. Default 3000. */
  readonly cooldownMs?: number;
  /** Pause between faults, and fault length, in ms: [min, max]. Defaults [1000, 3000], [2000, 6000]. */
  readonly gapMs?: readonly [number, number];
  readonly faultMs?: readonly [number, number];
}

export interface Schedule {
  readonly seed: number;
  readonly durationMs: number;
  readonly events: readonly FaultEvent[];
}

const INSTANT: ReadonlySet<FaultKind> = new Set(['transfer-leader']);
/** A schedule has at most this many events, however long the run. */
export const EVENTS_MAX = 10_000;

export function makeSchedule(o: ScheduleOptions): Schedule {
  if (!Number.isInteger(o.nodesPerShard) || o.nodesPerShard < 1) throw new RangeError('nodesPerShard must be >= 1');
  if (!Number.isInteger(o.shards) || o.shards < 1) throw new RangeError('shards must be >= 1');
  const routers = o.routers ?? 0;
  const kinds = (o.kinds ?? FAULT_KINDS).filter((k) => usable(k, o.nodesPerShard, routers, o.shards));
  const rng = new Rng(o.seed);
  const [gapMin, gapMax] = o.gapMs ?? [1000, 3000];
  const [lenMin, lenMax] = o.faultMs ?? [2000, 6000];
  const lastEnd = o.durationMs - (o.cooldownMs ?? 3000);
  const events: FaultEvent[] = [];
  let t = o.warmupMs ?? 3000;
  while (kinds.length > 0 && events.length < EVENTS_MAX) {
    const startMs = t + rng.range(gapMin, gapMax);
    const kind = rng.pick(kinds);
    const endMs = INSTANT.has(kind) ? startMs : Math.min(startMs + rng.range(lenMin, lenMax), lastEnd);
    if (startMs >= lastEnd || endMs < startMs) break;
    const shard = rng.int(o.shards);
    // The clients lose a router where they talk to routers, else a node.
    const atRouter = ROUTER_KINDS.has(kind) || (kind === 'partition-clients' && routers > 0);
    const picked = atRouter ? { nodes: [rng.int(routers)] } : targets(rng, kind, o.nodesPerShard);
    events.push({ id: events.length, kind, shard, startMs, endMs, ...picked });
    t = endMs;
  }
  return { seed: o.seed, durationMs: o.durationMs, events };
}

/** Kinds aimed at a router: `nodes[0]` is a router position. */
export const ROUTER_KINDS: ReadonlySet<FaultKind> = new Set(['kill-router', 'pause-router', 'partition-router']);

function usable(kind: FaultKind, n: number, routers: number, shards: number): boolean {
  // Behind routers, the last of several shards joins late with no slots: a rebalance moves some to it.
  if (kind === 'rebalance') return routers > 0 && shards >= 2;
  if (ROUTER_KINDS.has(kind)) return routers > 0;
  if (kind === 'bridge' || kind === 'partition-half' || kind === 'isolate-leader') return n >= 3;
  if (kind === 'transfer-leader' || kind === 'member-cycle' || kind === 'kill-majority') return n >= 2;
  return true;
}

/**
 * What a full disk leaves: nothing (the node's next write that needs space fails), or less than
 * a node's default reserve (64 MiB: it refuses writes before that happens).
 */
const DISK_LEAVE_BYTES = [0, 1 << 20, 16 << 20, 48 << 20] as const;

/** Clock steps: NTP at boot, a VM restored from a snapshot, an operator's typo. */
const CLOCK_STEPS_MS = [2 * 86_400_000, -300_000, 3_600_000, -86_400_000, 90_000] as const;

function targets(rng: Rng, kind: FaultKind, n: number): Pick<FaultEvent, 'nodes' | 'lossPercent' | 'rateKbit' | 'clockOffsetMs' | 'leaveBytes'> {
  const order = shuffle(rng, n);
  switch (kind) {
    case 'partition-half':
      return { nodes: order.slice(0, Math.floor(n / 2)) };
    case 'kill-majority':
      return { nodes: order.slice(0, Math.floor(n / 2) + 1) };
    case 'bridge':
      return { nodes: order };
    case 'loss':
      return { nodes: order.slice(0, rng.range(1, n)), lossPercent: rng.pick([5, 10, 20, 40]) };
    case 'slow':
      return { nodes: [order[0]!], rateKbit: rng.pick([64, 256, 1024]) };
    case 'clock':
      return { nodes: [order[0]!], clockOffsetMs: rng.pick(CLOCK_STEPS_MS) };
    case 'disk-full':
      return { nodes: [order[0]!], leaveBytes: rng.pick(DISK_LEAVE_BYTES) };
    default:
      return { nodes: order };
  }
}

function shuffle(rng: Rng, n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** One line per event, for logs and the report. */
export function describeEvent(e: FaultEvent): string {
  const extra = e.lossPercent !== undefined ? ` ${e.lossPercent}%` : e.rateKbit !== undefined ? ` ${e.rateKbit}kbit`
    : e.clockOffsetMs !== undefined ? ` ${e.clockOffsetMs}ms` : e.leaveBytes !== undefined ? ` ${e.leaveBytes >> 20}MiB left` : '';
  return `#${e.id} ${(e.startMs / 1000).toFixed(1)}s-${(e.endMs / 1000).toFixed(1)}s ${e.kind}${extra} shard ${e.shard} nodes [${e.nodes.join(',')}]`;
}
