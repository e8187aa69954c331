/**
 * A router, assembled: SeqDB's client server (node/server/, the same connection handling,
 * pipelining and limits as a node) over a RouterEngine that forwards each data command to the
 * shard owning its bucket. Finds the catalog through --join addresses and/or mDNS discovery.
 * Keeps no data: any number of routers can run and be restarted at will.
 */
import { randomBytes } from 'node:crypto';
import { startDiscovery, type Discovery } from '../shared/discovery/index.ts';
import { SeqServer, type ServerOptions } from '../node/server/server.ts';
import type { Engine } from '../node/server/engine.ts';
import type { Command, CommandResult, IncCommand } from '../node/state-machine/command.ts';
import { CATALOG_SHARD_ID } from '../node/ownership/catalog.ts';
import { CatalogSource } from './catalog-source.ts';
import { DEFAULT_ATTEMPT_TIMEOUT_MS, DEFAULT_DEADLINE_MS, Forwarder, type ForwarderOptions } from './forwarder.ts';
import { NodePool } from './node-connection.ts';
import { ShardMap } from './shard-map.ts';
import type { Metrics } from '../shared/observability/metrics.ts';
import { internalDialOptions } from '../shared/security/internal-options.ts';
import { callSecurityFor, type CallSecurity } from '../shared/security/client-security.ts';

export interface RouterOptions {
  /** Address to listen on (and to pin mDNS to). Default 127.0.0.1. */
  readonly host?: string;
  /** Default 7379; 0 picks a free port. */
  readonly port?: number;
  /** Node addresses to ask for the catalog (include at least one node of shard "1"). */
  readonly join?: readonly string[];
  /** Cluster name for discovery. Default 'seqdb'. */
  readonly cluster?: string;
  /** Browse/announce with mDNS. Default: true when `join` is empty. */
  readonly discovery?: boolean;
  /** mDNS UDP port (tests only). Default 5353. */
  readonly mdnsPort?: number;
  /** Catalog refresh period once the slot table is known. Default 5000 ms (1000 ms before). */
  readonly refreshMs?: number;
  readonly forwarder?: ForwarderOptions;
  readonly server?: Omit<ServerOptions, 'host' | 'port'>;
  readonly log?: (line: string) => void;
  /** Records command counts/latency and open connections here (shared/observability/). */
  readonly metrics?: Metrics;
}

export interface Router {
  readonly address: string;
  readonly map: ShardMap;
  info(): Record<string, string | number>;
  /** How this router's tool connections (the status collector's INFO polls) reach nodes. */
  readonly callSecurity: CallSecurity;
  close(): Promise<void>;
}

export async function startRouter(o: RouterOptions = {}): Promise<Router> {
  const host = o.host ?? '127.0.0.1';
  const join = [...(o.join ?? [])];
  const log = o.log ?? ((line: string) => process.stderr.write(`[router] ${line}\n`));
  // Nodes are used only once they proved the cluster secret (when one is configured).
  // A node is deemed stuck when a request waited a whole attempt without a reply.
  const pool = new NodePool({ ...internalDialOptions(o.server, log, o.cluster ?? 'seqdb'), stallMs: o.forwarder?.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS });
  const map = new ShardMap();
  let discovery: Discovery | null = null;
  const seeds = (): string[] => {
    const found = (discovery?.peers() ?? []).filter((p) => p.role === 'node' && p.shard === CATALOG_SHARD_ID);
    return [...join, ...found.map((p) => `${p.host}:${p.port}`)];
  };
  const catalog = new CatalogSource({ pool, map, seeds, log });
  const forwarder = new Forwarder(map, pool, catalog, o.forwarder);
  const rate = new RateMeter(() => forwarder.stats.requests);
  const engine = new RouterEngine(forwarder, () => infoLines(map, forwarder, rate, catalog, o.cluster ?? 'seqdb'));
  const server = new SeqServer(engine, { ...o.server, host, port: o.port ?? 7379 });
  if (o.metrics !== undefined) server.observeCommands(o.metrics.commandObserver);
  const bound = await server.listen();
  o.metrics?.setConnectionsSource(() => server.connectedClients);
  o.metrics?.setLimitsSource(() => server.limitCounters());

  if (o.discovery ?? join.length === 0) {
    // Discovered nodes are only places to ask for the catalog (seeds()); data goes to the
    // addresses the catalog lists, which the shards' leaders registered themselves.
    discovery = await startDiscovery({
      host, port: bound.port, cluster: o.cluster ?? 'seqdb', role: 'router',
      nodeId: `router-${randomBytes(6).toString('hex')}`,
      onPeer: () => void catalog.refresh(),
      ...(o.mdnsPort !== undefined ? { mdnsPort: o.mdnsPort, queryIntervalMs: 1000, peerTtlMs: 5000 } : { queryIntervalMs: 2000, peerTtlMs: 10_000 }),
    });
  }

  let closed = false;
  const refreshLoop = async (): Promise<void> => {
    while (!closed) {
      await catalog.refresh().catch((err: Error) => log(`catalog refresh failed: ${err.message}`));
      await new Promise((r) => setTimeout(r, map.epoch === 0 ? 500 : (o.refreshMs ?? 5000)).unref());
    }
  };
  void refreshLoop();

  return {
    address: `${bound.address}:${bound.port}`,
    map,
    info: () => engine.info(),
    callSecurity: callSecurityFor(o.server),
    async close() {
      closed = true;
      rate.stop();
      // Commands in flight finish first: one still retrying (a failover) and cut off would leave
      // its client not knowing whether it took a number (a review). Their deadline bounds the wait.
      await server.close((o.forwarder?.deadlineMs ?? DEFAULT_DEADLINE_MS) + 1000);
      await discovery?.stop();
      pool.closeAll();
    },
  };
}

class RouterEngine implements Engine {
  constructor(private readonly forwarder: Forwarder, private readonly lines: () => Record<string, string | number>) {}
  execute(command: Command): Promise<CommandResult> {
    return this.forwarder.execute(command);
  }
  executeInc(command: IncCommand, done: (result: CommandResult) => void): void {
    this.forwarder.executeInc(command, done);
  }
  info(): Record<string, string | number> {
    return this.lines();
  }
  async close(): Promise<void> {}
}

/** Requests per second over the last full second. */
class RateMeter {
  private last = 0;
  perSecond = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(count: () => number) {
    this.timer = setInterval(() => {
      const now = count();
      this.perSecond = now - this.last;
      this.last = now;
    }, 1000);
    this.timer.unref();
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

function infoLines(map: ShardMap, f: Forwarder, rate: RateMeter, catalog: CatalogSource, cluster: string): Record<string, string | number> {
  const shards = map.list().filter((s) => s.inCatalog);
  const lines: Record<string, string | number> = {
    role: 'router',
    cluster,
    catalog_epoch: map.epoch,
    shards: shards.length,
  };
  for (const s of shards) {
    const share = ((s.slots * 100) / 16384).toFixed(2);
    lines[`shard_${s.id}`] = `leader=${s.leader ?? '?'},members=${[...s.members].sort().join('|')},slots=${s.slots},share=${share}%`;
  }
  Object.assign(lines, {
    requests_per_sec: rate.perSecond,
    requests_total: f.stats.requests,
    errors_total: f.stats.errors,
    retries_total: f.stats.retries,
    redirects_total: f.stats.redirects,
    // Buckets whose later commands wait until an earlier refused one goes out again (bucket-lanes.ts).
    buckets_retrying: f.bucketsRetrying,
    inc_blocks_total: f.stats.blocks,
    inc_block_incs_total: f.stats.blockIncs,
    incs_blocks_total: f.stats.incsBlocks,
    catalog_fetches: catalog.fetches,
    catalog_fetch_failures: catalog.failures,
  });
  return lines;
}
