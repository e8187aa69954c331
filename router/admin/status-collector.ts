/**
 * What the router's status page shows, gathered once a second: every shard of the router's map
 * with its members' INFO (role, term, commit/applied index), each member's lag behind its
 * shard's leader, and the router's ops/s history. Problems are named so the page can mark them.
 * Polling is bounded: one short INFO per member per period, each with a timeout.
 */
import { infoFields, type CallSecurity } from '../../shared/observability/resp-call.ts';
import type { ShardMap } from '../shard-map.ts';

export interface NodeStatus {
  readonly addr: string;
  readonly up: boolean;
  readonly nodeId?: string;
  readonly role?: string;
  readonly term?: number;
  readonly commit?: number;
  readonly applied?: number;
  /** Entries behind the shard leader's commit index. */
  readonly lag?: number;
  /** The index at which its state checks found its state damaged (node/replication/state-checks.ts). */
  readonly stateDamaged?: number;
  readonly error?: string;
}

export interface ShardStatus {
  readonly id: string;
  readonly leader: string | null;
  readonly slots: number;
  readonly sharePct: number;
  readonly healthy: boolean;
  readonly problems: readonly string[];
  readonly nodes: readonly NodeStatus[];
}

export interface HistoryPoint {
  /** Unix ms at the end of the second. */
  readonly t: number;
  readonly ops: number;
  readonly errors: number;
}

export interface ClusterStatus {
  readonly cluster: string;
  readonly router: string;
  readonly time: number;
  readonly catalogEpoch: number;
  readonly opsPerSec: number;
  readonly requestsTotal: number;
  readonly errorsTotal: number;
  readonly healthy: boolean;
  readonly shards: readonly ShardStatus[];
  readonly history: readonly HistoryPoint[];
}

export interface CollectorOptions {
  readonly cluster: string;
  readonly router: () => string;
  readonly map: ShardMap;
  readonly stats: { readonly requests: number; readonly errors: number };
  /** Default 1000 ms. */
  readonly periodMs?: number;
  /** Seconds of ops/s history kept. Default 300. */
  readonly historySeconds?: number;
  /** A member this far behind its leader is marked lagging. Default 1000 entries. */
  readonly lagWarnEntries?: number;
  /** How INFO polls reach members: the router's own TLS, cluster secret and password. Default: none. */
  readonly security?: CallSecurity;
}

const SLOTS = 16384;

export class StatusCollector {
  private readonly history: HistoryPoint[] = [];
  private nodes = new Map<string, NodeStatus>();
  private lastCount = { requests: 0, errors: 0 };
  private readonly timer: NodeJS.Timeout;
  private polling = false;

  constructor(private readonly o: CollectorOptions) {
    this.lastCount = { requests: o.stats.requests, errors: o.stats.errors };
    this.timer = setInterval(() => this.tick(), o.periodMs ?? 1000);
    this.timer.unref();
    void this.poll();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  status(): ClusterStatus {
    const shards = this.o.map.list().filter((s) => s.inCatalog || s.members.size > 0).map((s) => this.shardStatus(s.id, s.leader, s.slots, [...s.members].sort()));
    const last = this.history[this.history.length - 1];
    return {
      cluster: this.o.cluster,
      router: this.o.router(),
      time: Date.now(),
      catalogEpoch: this.o.map.epoch,
      opsPerSec: last?.ops ?? 0,
      requestsTotal: this.o.stats.requests,
      errorsTotal: this.o.stats.errors,
      healthy: shards.length > 0 && shards.every((s) => s.healthy),
      shards,
      history: [...this.history],
    };
  }

  private tick(): void {
    const now = { requests: this.o.stats.requests, errors: this.o.stats.errors };
    this.history.push({ t: Date.now(), ops: now.requests - this.lastCount.requests, errors: now.errors - this.lastCount.errors });
    if (this.history.length > (this.o.historySeconds ?? 300)) this.history.shift();
    this.lastCount = now;
    void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const addrs = [...new Set(this.o.map.list().flatMap((s) => [...s.members]))];
      const results = await Promise.all(addrs.map(async (addr): Promise<NodeStatus> => {
        try {
          const f = await infoFields(addr, 800, this.o.security);
          return {
            addr, up: true, role: f.role ?? '?',
            ...(f.node_id ? { nodeId: f.node_id } : {}),
            ...(f.term ? { term: Number(f.term) } : {}),
            ...(f.commit_index ? { commit: Number(f.commit_index) } : {}),
            ...(f.applied_index ? { applied: Number(f.applied_index) } : {}),
            ...(Number(f.state_damaged) > 0 ? { stateDamaged: Number(f.state_damaged) } : {}),
          };
        } catch (err) {
          // Keep who it was: an unreachable row still names its node.
          const known = this.nodes.get(addr)?.nodeId;
          return { addr, up: false, error: (err as Error).message, ...(known ? { nodeId: known } : {}) };
        }
      }));
      this.nodes = new Map(results.map((r) => [r.addr, r]));
    } finally {
      this.polling = false;
    }
  }

  private shardStatus(id: string, cachedLeader: string | null, slots: number, members: string[]): ShardStatus {
    const nodes = members.map((addr) => this.nodes.get(addr) ?? { addr, up: false, error: 'not polled yet' });
    // The freshest view: a member that says it is leader in the highest term.
    const leaders = nodes.filter((n) => n.up && n.role === 'leader').sort((a, b) => (b.term ?? 0) - (a.term ?? 0));
    const leader = leaders[0] ?? null;
    const withLag = nodes.map((n) => (leader && n.up && leader.commit !== undefined && n.applied !== undefined ? { ...n, lag: Math.max(0, leader.commit - n.applied) } : n));
    const problems: string[] = [];
    if (leader === null) problems.push('no leader');
    const down = withLag.filter((n) => !n.up);
    if (down.length > 0) problems.push(`${down.length} of ${nodes.length} node(s) unreachable`);
    const lagWarn = this.o.lagWarnEntries ?? 1000;
    const lagging = withLag.filter((n) => (n.lag ?? 0) > lagWarn);
    if (lagging.length > 0) problems.push(`${lagging.length} node(s) lagging`);
    const damaged = withLag.filter((n) => n.up && n.stateDamaged !== undefined);
    if (damaged.length > 0) problems.push(`${damaged.length} node(s) with a damaged state`);
    if (down.length * 2 >= nodes.length && nodes.length > 0) problems.push('quorum at risk');
    return {
      id, leader: leader?.addr ?? cachedLeader, slots, sharePct: Math.round((slots * 10000) / SLOTS) / 100,
      healthy: problems.length === 0, problems, nodes: withLag,
    };
  }
}
