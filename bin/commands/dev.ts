/**
 * `seqdb dev`: a working SeqDB on one machine. Today that is one node on LMDB serving clients
 * directly. Later issues add `--nodes N` (a Raft group) and `--shards N` (a router in front):
 * add the flags to FLAGS and a branch in `run` choosing what to start; clients see no difference.
 */
import { exitNowOnUncaught } from '../../shared/exit-now.ts';
import { SHUTDOWN_USAGE, parseShutdownTimeout, stopOnSignals } from '../stop-signals.ts';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startSingleNode } from '../../node/single/single-node.ts';
import { holdsShardLog } from '../../node/replication/member-data.ts';
import { startDevCluster } from '../../router/dev-cluster.ts';
import { CliError, DISK_RESERVE_USAGE, MOVE_IDLE_USAGE, parseDiskReserve, parseFlags, parseIntInRange, parsePort, parsePositiveInt, type Subcommand } from '../cli.ts';
import { DISK_RESERVE_BYTES_DEFAULT } from '../../node/disk/disk-guard.ts';
import { SECURITY_FLAGS, SECURITY_USAGE, securityFromFlags } from '../../shared/security/cli-flags.ts';
import { OPS_FLAGS, Metrics, makeLogger, maybeAdmin, parseAdminPort, stopIfFails } from '../ops-flags.ts';
import { startAdminForRouter } from '../../router/admin/router-admin.ts';
import { formatLine, lineLogger } from '../../shared/observability/logger.ts';

const USAGE = `Usage: seqdb dev [--port 7379] [--host 127.0.0.1] [--data ./data]

Runs SeqDB on this machine: one node keeping its sequences in LMDB under --data.

Options:
  --port <n>                 TCP port (default 7379; 0 picks a free one)
  --host <addr>              address to listen on (default 127.0.0.1)
  --data <dir>               data directory (default ./data)
  --token-retention-ms <n>   how long INC ... ID tokens are remembered (default 86400000 = 24 h)
  --tokens-max <n>           most tokens remembered; oldest evicted first (default 1000000)
${DISK_RESERVE_USAGE}
${MOVE_IDLE_USAGE}
  --shards <n>               a local sharded cluster: n shards of --nodes node processes each,
                             and a router on --port; nodes use the ports after --port
  --nodes <n>                nodes per shard (default 3 with --shards); alone: one shard of n nodes
  --apply-hold-ms <n>        with --nodes/--shards: how long a follower may keep committed entries
                             back to apply them together (default 10; 0 at once; at most 1000)
  --admin-port <n>           HTTP admin port: /metrics, and with --shards/--nodes the status page
                             at / (default --port + 1000, or a free one with --port 0; nodes of a
                             dev cluster use the ports after it)
  --log-level <level>        trace|debug|info|warn|error|fatal|silent (default info)
${SHUTDOWN_USAGE}
  -h, --help                 show this help

${SECURITY_USAGE}
  (with --shards/--nodes a cluster secret is generated unless given)`;

const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  data: { type: 'string' },
  'token-retention-ms': { type: 'string' },
  'tokens-max': { type: 'string' },
  'disk-reserve-mb': { type: 'string' },
  'move-idle-ms': { type: 'string' },
  shards: { type: 'string' },
  nodes: { type: 'string' },
  'apply-hold-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...SECURITY_FLAGS,
  ...OPS_FLAGS,
} as const;

export const dev: Subcommand = {
  name: 'dev',
  summary: 'run SeqDB on this machine (one node on LMDB)',
  async run(argv) {
    const { values } = parseFlags(argv, FLAGS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    // A crash must end this process even with an LMDB write in flight (shared/exit-now.ts).
    exitNowOnUncaught();
    const host = values.host ?? '127.0.0.1';
    if (host === '') throw new CliError('--host must not be empty');
    const dataDir = resolve(values.data ?? './data');
    const retention = parsePositiveInt('token-retention-ms', values['token-retention-ms']);
    const tokensMax = parsePositiveInt('tokens-max', values['tokens-max']);
    const diskReserveBytes = parseDiskReserve(values['disk-reserve-mb']);
    const nodesPerShard = parsePositiveInt('nodes', values.nodes);
    const shards = parsePositiveInt('shards', values.shards) ?? (nodesPerShard !== undefined ? 1 : undefined);
    const applyHoldMs = parseIntInRange('apply-hold-ms', values['apply-hold-ms'], 0, 1000);
    const shutdownTimeoutMs = parseShutdownTimeout(values['shutdown-timeout-ms']);
    if (applyHoldMs !== undefined && shards === undefined) throw new CliError('--apply-hold-ms needs --nodes or --shards (a single node has no followers)');
    let security;
    try {
      security = securityFromFlags(values);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    if (shards !== undefined) {
      const nodeArgs = [
        ...(retention !== undefined ? ['--token-retention-ms', String(retention)] : []),
        ...(tokensMax !== undefined ? ['--tokens-max', String(tokensMax)] : []),
        ...(values['disk-reserve-mb'] !== undefined ? ['--disk-reserve-mb', values['disk-reserve-mb']] : []),
        ...(values['move-idle-ms'] !== undefined ? ['--move-idle-ms', String(parsePositiveInt('move-idle-ms', values['move-idle-ms']))] : []),
        ...(applyHoldMs !== undefined ? ['--apply-hold-ms', String(applyHoldMs)] : []),
      ];
      const port = parsePort(values.port, 7379);
      if (port === 0) throw new CliError('--shards/--nodes need a fixed --port (nodes use the ports after it)');
      const nodes = nodesPerShard ?? 3;
      if (shards > 16 || nodes > 7) throw new CliError('at most 16 shards of 7 nodes');
      // A single node's state (`seqdb restore`, or `seqdb dev` without --nodes) sits in <data>/lmdb,
      // where a cluster's nodes never look (shard-S/node-I): it was ignored and numbers began at 1
      // again (a review).
      if (holdsShardLog(dataDir)) {
        throw new CliError(`${dataDir} holds a shard member's data (raft/): start it with 'seqdb node --data ${dataDir}' and its shard's flags`);
      }
      if (existsSync(join(dataDir, 'lmdb')) || existsSync(join(dataDir, 'lmdb-restoring'))) {
        throw new CliError(`${dataDir} holds a single node's state (seqdb restore, or seqdb dev without --nodes/--shards): start it with 'seqdb dev --data ${dataDir}', or as the first node of a shard (seqdb node --data ... --bootstrap-expect 1)`);
      }
      const adminPort = parseAdminPort(values['admin-port']) ?? (port + 1000 + 1 + shards * nodes <= 65535 ? port + 1000 : 0);
      const metrics = new Metrics({ component: 'router' });
      const logger = makeLogger(values, { role: 'router' });
      const cluster = await startDevCluster({
        host, port, dataDir, shards, nodes, nodeArgs, security, metrics, log: devClusterLog(lineLogger(logger)),
        ...(adminPort !== 0 ? { nodeAdminBasePort: adminPort } : {}),
      });
      console.log(`seqdb dev: ${shards} shards x ${nodes} nodes, router listening on ${cluster.address} (data: ${dataDir})`);
      const admin = await stopIfFails(startAdminForRouter(cluster.router, { host, port: adminPort, metrics, cluster: 'seqdb' }), () => cluster.close());
      console.log(`seqdb dev: status page on http://${admin.address}/ (metrics: /metrics${adminPort !== 0 ? `; nodes' metrics on ports ${adminPort + 1}-${adminPort + shards * nodes}` : ''})`);
      return waitForSignal(async () => { await admin.close(); await cluster.close(); }, shutdownTimeoutMs);
    }
    const devPort = parsePort(values.port, 7379);
    // ... and the reverse: a single node on a cluster's dir would start empty beside its shards.
    if (existsSync(dataDir) && readdirSync(dataDir).some((f) => /^shard-/.test(f))) {
      throw new CliError(`${dataDir} holds a local cluster's nodes (shard-*/): start it with the same --nodes/--shards, or give a single node another --data`);
    }
    const metrics = new Metrics({ component: 'single' });
    const node = await startSingleNode({
      observability: { metrics, logger: makeLogger(values, { role: 'single' }) },
      dataDir,
      server: { host, port: parsePort(values.port, 7379), ...security.server },
      stateMachine: { tokenRetentionMs: retention, tokensMax },
      diskReserveBytes: diskReserveBytes ?? DISK_RESERVE_BYTES_DEFAULT,
    });
    const { address, port } = node.address;
    console.log(`seqdb dev listening on ${address}:${port} (data: ${dataDir})`);
    const adminPort = parseAdminPort(values['admin-port']) ?? (devPort !== 0 && devPort + 1000 <= 65535 ? devPort + 1000 : 0);
    const admin = await stopIfFails(maybeAdmin(adminPort, host, metrics, 'seqdb dev'), () => node.close());
    return waitForSignal(async () => { await node.close(); await admin?.close(); }, shutdownTimeoutMs);
  },
};

/** Resolves with exit code 0 after a clean shutdown on SIGTERM/SIGINT (bin/stop-signals.ts). */
function waitForSignal(close: () => Promise<void>, timeoutMs: number): Promise<number> {
  return stopOnSignals({
    close,
    timeoutMs,
    onSignal: (signal) => console.log(`seqdb dev: ${signal}, shutting down`),
    onTimeout: (ms) => console.error(`seqdb dev: shutdown did not finish within ${ms} ms (a disk that does not answer?); exiting now`),
    onError: (err) => console.error(`seqdb dev: shutdown failed: ${err.message}`),
  });
}

export default dev;

/**
 * Output of a dev cluster: node lines come prefixed (`[s1n0] `) and are JSON log lines, shown
 * as they are or, on a terminal, formatted; the in-process router's own lines go to `routerLog`.
 */
function devClusterLog(routerLog: (line: string) => void): (line: string) => void {
  const pretty = process.stdout.isTTY === true;
  return (line) => {
    const m = /^(\[s\d+n\d+\] )(.*)$/.exec(line);
    if (m === null) return routerLog(line);
    process.stdout.write(pretty && m[2]!.startsWith('{') ? m[1]! + formatLine(m[2]!) : line + '\n');
  };
}
