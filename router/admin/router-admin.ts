/**
 * The router's admin port: Prometheus metrics, and the status page (static HTML, CSS and JS from
 * ./page/, read once at start) with the JSON it polls (`/status.json`).
 */
import { readFileSync } from 'node:fs';
import type { GaugeSample } from '../../shared/observability/prom-registry.ts';
import type { ServerResponse } from 'node:http';
import { startAdminServer, type AdminServer } from '../../shared/observability/admin-server.ts';
import type { Metrics } from '../../shared/observability/metrics.ts';
import type { CallSecurity } from '../../shared/observability/resp-call.ts';
import type { ShardMap } from '../shard-map.ts';
import { StatusCollector } from './status-collector.ts';
import { PACKAGE_ROOT } from '../../shared/package-root.ts';

export interface RouterAdminOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: Metrics;
  readonly cluster: string;
  readonly routerAddress: () => string;
  readonly map: ShardMap;
  readonly stats: { readonly requests: number; readonly errors: number };
  /** How the status collector reaches members (TLS, cluster secret, password). Default: none. */
  readonly security?: CallSecurity;
}

export interface RouterAdmin {
  readonly address: string;
  readonly collector: StatusCollector;
  close(): Promise<void>;
}

const PAGE = new URL('router/admin/page/', PACKAGE_ROOT);

function file(name: string, type: string): (_req: unknown, res: ServerResponse) => void {
  const body = readFileSync(new URL(name, PAGE));
  return (_req, res) => void res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' }).end(body);
}

export async function startRouterAdmin(o: RouterAdminOptions): Promise<RouterAdmin> {
  const collector = new StatusCollector({
    cluster: o.cluster, router: o.routerAddress, map: o.map, stats: o.stats, ...(o.security !== undefined ? { security: o.security } : {}),
  });
  clusterGauges(o.metrics, collector, o.map);
  let server: AdminServer;
  try {
    server = await startAdminServer({
      host: o.host, port: o.port, metrics: o.metrics,
      routes: {
        '/': file('status.html', 'text/html; charset=utf-8'),
        '/status.css': file('status.css', 'text/css; charset=utf-8'),
        '/status.js': file('status.js', 'text/javascript; charset=utf-8'),
        '/status.json': (_req, res) => void res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(collector.status())),
      },
    });
  } catch (err) {
    collector.stop();
    throw err;
  }
  return {
    address: server.address,
    collector,
    async close() {
      collector.stop();
      await server.close();
    },
  };
}

/** The admin port of a running router, with its request counters read from its INFO fields. */
export function startAdminForRouter(
  r: { readonly address: string; readonly map: ShardMap; readonly callSecurity?: CallSecurity; info(): Record<string, string | number> },
  o: { host: string; port: number; metrics: Metrics; cluster: string },
): Promise<RouterAdmin> {
  const stats = {
    get requests(): number { return Number(r.info().requests_total ?? 0); },
    get errors(): number { return Number(r.info().errors_total ?? 0); },
  };
  return startRouterAdmin({ ...o, routerAddress: () => r.address, map: r.map, stats, ...(r.callSecurity !== undefined ? { security: r.callSecurity } : {}) });
}

/**
 * Cluster-level gauges on the router's registry, from the status collector: slots per shard
 * (watch them converge during a rebalance), shard health, member count, catalog epoch.
 */
function clusterGauges(metrics: Metrics, collector: StatusCollector, map: ShardMap): void {
  const r = metrics.registry;
  r.gauge('seqdb_cluster_shard_slots', 'Slots each shard owns in the router\'s catalog view.',
    () => map.list().filter((s) => s.inCatalog).map((s): GaugeSample => [{ shard: s.id }, s.slots]));
  r.gauge('seqdb_cluster_shard_healthy', '1 if the shard has a leader and every member answers, else 0.',
    () => collector.status().shards.map((s): GaugeSample => [{ shard: s.id }, s.healthy ? 1 : 0]));
  r.gauge('seqdb_cluster_nodes_up', 'Members of each shard answering INFO.',
    () => collector.status().shards.map((s): GaugeSample => [{ shard: s.id }, s.nodes.filter((n) => n.up).length]));
  r.gauge('seqdb_rebalance_progress_ratio',
    'Fraction of slots owned by the shard the ring plans for them: drops when a shard joins, reaches 1 when the rebalance is done.',
    () => [[null, map.placedRatio()]]);
  r.gauge('seqdb_catalog_epoch', 'Epoch of the slot table the router uses.', () => [[null, map.epoch]]);
}
