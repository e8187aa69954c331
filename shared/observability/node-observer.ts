/**
 * Observability glue for storage nodes, kept out of the node's own files: wraps the Engine
 * (SEQDB.EXPORT), hooks the server (command metrics), times durable flushes, feeds the Raft gauges, and logs
 * leader changes, membership changes and slow flushes as structured events.
 *
 * Flushes are observed by wrapping the `persist`/`write` method of the storage INSTANCE the node
 * already opened (not its class), so nothing changes for processes that do not observe.
 */
import type { CommandObserver, Engine } from '../../node/server/engine.ts';
import type { LmdbStore } from '../../node/state-machine/index.ts';
import type { LmdbRaftStorage } from '../../node/replication/lmdb-raft-storage.ts';
import type { RaftNode } from '../../node/replication/raft-node.ts';
import type { RaftStatus } from '../../node/raft/types.ts';
import { Exporter, type ExportCacheOptions } from '../../node/backup/export.ts';
import { snapshotBytes } from '../../node/replication/snapshot-images.ts';
import { lineLogger, type Logger } from './logger.ts';
import type { Metrics, RaftGaugeSource } from './metrics.ts';
import { withExportCommand } from './export-engine.ts';

export interface NodeObservability {
  readonly metrics?: Metrics;
  readonly logger?: Logger;
  /** A flush slower than this is logged as a warning. Default 200 ms. */
  readonly slowFlushMs?: number;
}

export interface ObservedParts {
  readonly engine: Engine;
  /** Hooks the server once it exists: command metrics, `seqdb_open_connections`, limit events. */
  attachServer(server: ObservedServer): void;
  stop(): void;
}

const WATCH_MS = 100;

export interface ReplicaParts {
  readonly engine: Engine;
  readonly shard: string;
  readonly nodeId: string;
  readonly store: LmdbStore;
  readonly storage: LmdbRaftStorage;
  readonly node: () => RaftNode | null;
  /** SEQDB.EXPORT's image cache: a node passes its data dir and disk guard (`dir`, `room`). */
  readonly exports?: ExportCacheOptions;
}

export function observeReplica(obs: NodeObservability | undefined, p: ReplicaParts): ObservedParts {
  const exporter = new Exporter(p.shard, () => {
    const node = p.node();
    return node === null ? null : { shard: p.shard, nodeId: p.nodeId, store: p.store, barrier: (c) => node.execute(c) };
  }, p.exports);
  const engine = withExportCommand(p.engine, exporter);
  if (obs === undefined) return { engine, attachServer: () => {}, stop: () => exporter.close() };
  let snapshotAtMs: number | null = null;
  const slowMs = obs.slowFlushMs ?? 200;
  const storage = p.storage;
  const persist = storage.persist.bind(storage);
  storage.persist = async (batch) => {
    const started = performance.now();
    await persist(batch);
    const ms = performance.now() - started;
    let bytes = 0;
    for (const e of batch.entries) bytes += e.data.length + 24;
    if (batch.snapshot) {
      bytes += snapshotBytes(batch.snapshot);
      snapshotAtMs = Date.now();
    }
    obs.metrics?.observeFlush(bytes, ms / 1000);
    if (ms > slowMs) obs.logger?.warn({ event: 'slow_flush', ms: Math.round(ms), entries: batch.entries.length, bytes }, 'slow flush');
  };
  const saveSnapshot = storage.saveSnapshot.bind(storage);
  storage.saveSnapshot = async (snap) => {
    await saveSnapshot(snap);
    snapshotAtMs = Date.now();
  };
  obs.metrics?.setRaftSource(() => {
    const node = p.node();
    if (node === null) return null;
    return raftSource(node.status(), node.appliedIndex(), storage.snapshotMeta().index, snapshotAtMs);
  });
  const watcher = obs.logger ? watchRaft(obs.logger, p.node, (id) => addressOf(p, id)) : null;
  return {
    engine,
    attachServer: (server) => attachServerMetrics(obs.metrics, server),
    stop: () => {
      if (watcher) clearInterval(watcher);
      exporter.close();
    },
  };
}

export interface SingleParts {
  readonly engine: Engine;
  readonly store: LmdbStore;
  /** As ReplicaParts.exports. */
  readonly exports?: ExportCacheOptions;
}

/** A single node: command metrics, flush timing of the executor's LMDB transactions, SEQDB.EXPORT. */
export function observeSingle(obs: NodeObservability | undefined, p: SingleParts): ObservedParts {
  const exporter = new Exporter('single', () => ({ shard: 'single', store: p.store }), p.exports);
  const engine = withExportCommand(p.engine, exporter);
  if (obs === undefined) return { engine, attachServer: () => {}, stop: () => exporter.close() };
  const store = p.store;
  const write = store.write.bind(store);
  const slowMs = obs.slowFlushMs ?? 200;
  store.write = (async (fn: Parameters<LmdbStore['write']>[0]) => {
    const started = performance.now();
    const out = await write(fn);
    const ms = performance.now() - started;
    obs.metrics?.observeFlush(0, ms / 1000);
    if (ms > slowMs) obs.logger?.warn({ event: 'slow_flush', ms: Math.round(ms) }, 'slow flush');
    return out;
  }) as LmdbStore['write'];
  obs.metrics?.setRaftSource(() => null);
  return { engine, attachServer: (server) => attachServerMetrics(obs.metrics, server), stop: () => exporter.close() };
}

function raftSource(st: RaftStatus, applied: number, snapshotIndex: number, snapshotAtMs: number | null): RaftGaugeSource {
  const learner = st.conf.learners.includes(st.id);
  const matchByPeer: Record<string, number> = {};
  if (st.progress) for (const [id, pr] of Object.entries(st.progress)) if (id !== st.id) matchByPeer[id] = pr.match;
  return {
    term: st.term, role: learner ? 'learner' : st.role, commit: st.commit, applied,
    firstIndex: st.firstIndex, lastIndex: st.lastIndex, snapshotIndex, snapshotAtMs,
    ...(st.progress ? { matchByPeer } : {}),
  };
}

function addressOf(p: ReplicaParts, id: string | null): string | null {
  if (id === null) return null;
  const node = p.node();
  return node !== null && node.status().leader === id ? node.leaderAddress() : null;
}

/** Polls the node's status and logs leader and membership changes (the core has no events). */
function watchRaft(logger: Logger, node: () => RaftNode | null, leaderAddr: (id: string | null) => string | null): NodeJS.Timeout {
  let leader: string | null | undefined;
  let term = -1;
  let conf = '';
  const timer = setInterval(() => {
    const n = node();
    if (n === null) return;
    const st = n.status();
    if (st.leader !== leader || (st.leader !== null && st.term !== term && st.role === 'leader')) {
      if (leader !== undefined || st.leader !== null) {
        logger.info({ event: 'leader_change', term: st.term, leader: st.leader, leaderAddr: leaderAddr(st.leader), role: st.role }, st.leader === null ? 'no leader' : `leader is ${st.leader}`);
      }
      leader = st.leader;
      term = st.term;
    }
    const now = `voters=${[...st.conf.voters].sort().join(',')} learners=${[...st.conf.learners].sort().join(',')}`;
    if (now !== conf) {
      if (conf !== '') logger.info({ event: 'membership_change', voters: st.conf.voters, learners: st.conf.learners }, 'membership changed');
      conf = now;
    }
  }, WATCH_MS);
  timer.unref();
  return timer;
}

/** The `log` hook of a replica node as structured logs with the node id bound; undefined without a logger. */
export function replicaLog(obs: NodeObservability | undefined, nodeId: string): ((line: string) => void) | undefined {
  return obs?.logger ? lineLogger(obs.logger.child({ node: nodeId })) : undefined;
}

/** What of the server (SeqServer) the metrics read and hook. */
export interface ObservedServer {
  readonly connectedClients: number;
  limitCounters(): Readonly<Record<string, number>>;
  observeCommands(observer: CommandObserver): void;
}

/** Command counts and latencies, open connections and limit events of the server. */
function attachServerMetrics(
  metrics: Metrics | undefined,
  server: ObservedServer,
): void {
  if (metrics !== undefined) server.observeCommands(metrics.commandObserver);
  metrics?.setConnectionsSource(() => server.connectedClients);
  metrics?.setLimitsSource(() => server.limitCounters());
}
