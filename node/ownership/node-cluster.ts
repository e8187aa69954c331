/**
 * What a storage node adds to be part of a cluster of shards: mDNS discovery (peers of its own
 * shard feed the Raft bootstrap/join; catalog-shard nodes are where it registers) and the shard
 * agent (agent.ts). Started by node/replication/replica-node.ts when its `sharding` option is set.
 */
import { startDiscovery, type Discovery } from '../../shared/discovery/index.ts';
import type { Engine } from '../server/engine.ts';
import type { KvReader } from '../state-machine/index.ts';
import { startShardAgent, type ShardAgent } from './agent.ts';
import type { InternalDialOptions } from '../../shared/security/internal-options.ts';

export interface ShardingOptions {
  /** Announce and browse `_seqdb._tcp` on the interface of --host. Default true. */
  readonly discovery?: boolean;
  /** Static addresses of catalog-shard (shard "1") nodes, for networks without multicast. */
  readonly catalog?: readonly string[];
  /** The catalog shard waits for this many registered shards before initializing. Default 1. */
  readonly shardsExpect?: number;
  /** mDNS UDP port (tests only). Default 5353. */
  readonly mdnsPort?: number;
}

export interface NodeClusterDeps {
  readonly options: ShardingOptions;
  readonly cluster: string;
  readonly shard: string;
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
  /** Raft join addresses: discovery appends the addresses of nodes of this shard to it. */
  readonly joinAddrs: string[];
  /** A node of this shard announced itself at `address` (a hint: mDNS is not authenticated). */
  readonly onShardPeer?: (nodeId: string, address: string) => void;
  readonly engine: Engine;
  readonly isLeader: () => boolean;
  readonly memberAddrs: () => string[];
  readonly readState: <T>(fn: (kv: KvReader) => T) => T;
  readonly log: (line: string) => void;
  /** Cluster secret and TLS for the agent's connections to other shards. Default: none. */
  readonly internal?: InternalDialOptions;
}

export interface NodeCluster {
  /** How long to listen for discovered peers before a decision that needs them (0 without discovery). */
  readonly discoverySettleMs: number;
  stop(): Promise<void>;
}

/** How often nodes query for peers; a fresh node listens two rounds before deciding alone. */
const QUERY_INTERVAL_MS = 2000;

/** Join addresses learned from discovery, kept at most (mDNS is a hint; bound what it adds). */
const DISCOVERED_JOIN_MAX = 64;

export async function startNodeCluster(d: NodeClusterDeps): Promise<NodeCluster> {
  let discovery: Discovery | null = null;
  if (d.options.discovery ?? true) {
    const learnPeer = (p: { role: string; shard?: string; host: string; port: number; nodeId: string }): void => {
      const address = `${p.host}:${p.port}`;
      if (p.role === 'node' && p.shard === d.shard) d.onShardPeer?.(p.nodeId, address);
      if (p.role === 'node' && p.shard === d.shard && !d.joinAddrs.includes(address) && d.joinAddrs.length < DISCOVERED_JOIN_MAX) {
        d.joinAddrs.push(address);
      }
    };
    discovery = await startDiscovery({
      host: d.host, port: d.port, cluster: d.cluster, role: 'node', shard: d.shard, nodeId: d.nodeId,
      onPeer: learnPeer,
      queryIntervalMs: QUERY_INTERVAL_MS,
      peerTtlMs: 10_000,
      ...(d.options.mdnsPort !== undefined ? { mdnsPort: d.options.mdnsPort } : {}),
    });
    for (const p of discovery.peers()) learnPeer(p);
  }
  const nodes = (): { shard?: string; role: string; host: string; port: number }[] => discovery?.peers() ?? [];
  const agent: ShardAgent = startShardAgent({
    shard: d.shard,
    engine: d.engine,
    isLeader: d.isLeader,
    memberAddrs: d.memberAddrs,
    readState: d.readState,
    catalogSeeds: () => [
      ...(d.options.catalog ?? []),
      ...nodes().filter((p) => p.role === 'node' && p.shard === '1').map((p) => `${p.host}:${p.port}`),
    ],
    knownShards: () => [...new Set(nodes().filter((p) => p.role === 'node' && p.shard !== undefined).map((p) => p.shard!))],
    ...(d.options.shardsExpect !== undefined ? { shardsExpect: d.options.shardsExpect } : {}),
    log: d.log,
    ...(d.internal !== undefined ? { internal: d.internal } : {}),
  });
  return {
    discoverySettleMs: discovery === null ? 0 : 2 * QUERY_INTERVAL_MS,
    async stop() {
      agent.stop();
      await discovery?.stop();
    },
  };
}
