/**
 * `seqdb dev --shards N [--nodes M]`: a local cluster of N shards of M `seqdb node` processes
 * each, plus an in-process router on --port that clients talk to. For trying sharding and
 * failover on one machine; every process is a real node with its own LMDB under --data.
 *
 * Nodes listen on the ports right after --port (shard s, node i: port + 1 + (s-1)*M + i), fixed
 * so that a restart on the same --data finds the same members. They are wired statically
 * (--join within a shard, --catalog to shard 1, --shards-expect N on shard 1): no multicast on
 * the machine's loopback, where other local clusters could be heard.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SEQDB_BIN } from '../shared/package-root.ts';
import { writeFileDurably } from '../shared/durable-file.ts';
import { startRouter, type Router } from './router.ts';
import type { Metrics } from '../shared/observability/metrics.ts';
import { ClusterSecret } from '../shared/security/cluster-proof.ts';
import type { SecuritySettings } from '../shared/security/cli-flags.ts';

export interface DevClusterOptions {
  readonly host: string;
  /** The router's port; nodes take the next shards x nodes ports. */
  readonly port: number;
  readonly dataDir: string;
  readonly shards: number;
  /** Nodes per shard. Default 3. */
  readonly nodes?: number;
  /** Extra flags for every node (e.g. --token-retention-ms). */
  readonly nodeArgs?: readonly string[];
  readonly log?: (line: string) => void;
  /**
   * Password, cluster secret and TLS for the router and every node; idle timeout, TCP keepalive
   * and client limit for the router only (a node's clients are the router; nodes keep their
   * defaults). Secrets reach the nodes through their environment, not argv. Without a cluster
   * secret, one is generated.
   */
  readonly security?: SecuritySettings;
  /** Node k (0-based, in port order) gets `--admin-port nodeAdminBasePort + 1 + k`. Default: no admin ports. */
  readonly nodeAdminBasePort?: number;
  /** The router's metrics (shared/observability/). */
  readonly metrics?: Metrics;
}

export interface DevNode {
  readonly shard: string;
  readonly address: string;
  readonly child: ChildProcess;
}

export interface DevCluster {
  readonly address: string;
  readonly router: Router;
  readonly nodes: readonly DevNode[];
  close(): Promise<void>;
}

/** How long close() waits for nodes after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 5000;
/** How long the start waits for every node to say it listens (a slow first bundle build included). */
const NODE_START_WAIT_MS = 60_000;
/** What `seqdb node` prints once it listens (bin/commands/node.ts). */
const LISTENING = / listening on /;

export async function startDevCluster(o: DevClusterOptions): Promise<DevCluster> {
  const perShard = o.nodes ?? 3;
  if (!Number.isInteger(o.shards) || o.shards < 1 || o.shards > 16) throw new RangeError('shards must be 1..16');
  if (!Number.isInteger(perShard) || perShard < 1 || perShard > 7) throw new RangeError('nodes must be 1..7');
  if (o.port === 0) throw new RangeError('a dev cluster needs a fixed --port (nodes use the ports after it)');
  if (o.port + o.shards * perShard > 65535) throw new RangeError('--port too high for that many nodes');
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const addr = (shard: number, i: number): string => `${o.host}:${o.port + 1 + (shard - 1) * perShard + i}`;
  const catalog = Array.from({ length: perShard }, (_, i) => addr(1, i));
  const nodes: DevNode[] = [];
  /** Per node: resolves null once it listens, or why it did not (it exited first). */
  const started: Promise<string | null>[] = [];
  /** Set once the nodes are being stopped on purpose: their exits are then not news. */
  let closing = false;
  const security = o.security;
  const clusterSecret = security?.clusterSecret ?? devClusterSecret(o.dataDir, log);
  const env = {
    ...process.env,
    SEQDB_CLUSTER_SECRET: clusterSecret,
    SEQDB_EXIT_WITH_PARENT: '1',
    ...(security?.password !== undefined ? { SEQDB_PASSWORD: security.password } : { SEQDB_PASSWORD: '' }),
  };
  const tlsArgs = security?.tlsFiles === undefined ? [] : [
    '--tls-cert', security.tlsFiles.cert, '--tls-key', security.tlsFiles.key,
    ...(security.tlsFiles.ca !== undefined ? ['--tls-ca', security.tlsFiles.ca] : []),
  ];
  for (let shard = 1; shard <= o.shards; shard++) {
    const members = Array.from({ length: perShard }, (_, i) => addr(shard, i));
    for (let i = 0; i < perShard; i++) {
      const dataDir = join(o.dataDir, `shard-${shard}`, `node-${i}`);
      mkdirSync(dataDir, { recursive: true });
      const args = [
        SEQDB_BIN, 'node', '--shard', String(shard), '--host', o.host,
        '--port', members[i]!.split(':').pop()!, '--data', dataDir, '--join', members.join(','),
        '--bootstrap-expect', String(perShard), '--catalog', catalog.join(','),
        ...(shard === 1 ? ['--shards-expect', String(o.shards)] : []), ...(o.nodeArgs ?? []), ...tlsArgs,
        ...(o.nodeAdminBasePort !== undefined ? ['--admin-port', String(o.nodeAdminBasePort + 1 + (shard - 1) * perShard + i)] : []),
      ];
      // stdin is a pipe only so that the node sees EOF when this process dies, even by kill -9.
      // detached: a process group of its own, so that a terminal's Ctrl-C (SIGINT to the foreground
      // group) reaches only this process, which stops the node with one SIGTERM (stopChild): a second
      // signal during its shutdown is exitNow (bin/commands/node.ts).
      const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env, detached: true });
      const prefix = `[s${shard}n${i}] `;
      const relay = (chunk: Buffer): void => {
        for (const line of chunk.toString().split('\n')) if (line.trim() !== '') log(prefix + line);
      };
      child.stdout!.on('data', relay);
      child.stderr!.on('data', relay);
      // A node that died (a FATAL disk error, kill -9) is not restarted here: say so (one that
      // never started fails the start instead, below).
      const start = nodeStarted(child, prefix);
      started.push(start);
      child.once('exit', async (code, signal) => {
        if (await start === null && !closing) log(`${prefix}node process exited (${code ?? signal}); its shard serves on without it until seqdb dev is restarted`);
      });
      nodes.push({ shard: String(shard), address: members[i]!, child });
    }
  }
  let router: Router;
  try {
    // A node that cannot start (its port taken, its data dir locked by another process) leaves a
    // shard that can never form (--bootstrap-expect counts it): refuse the whole cluster rather
    // than run on answering CLUSTERDOWN (a review).
    const failed = (await Promise.all(started)).filter((why) => why !== null);
    if (failed.length > 0) throw new Error(`a node could not start, so its shard cannot form: ${failed.join('; ')}`);
    const server = { ...security?.server, security: { ...security?.server.security, clusterSecret } };
    router = await startRouter({ host: o.host, port: o.port, join: catalog, discovery: false, log, server, ...(o.metrics ? { metrics: o.metrics } : {}) });
  } catch (err) {
    closing = true;
    await Promise.all(nodes.map((n) => stopChild(n.child)));
    throw err;
  }
  return {
    address: router.address,
    router,
    nodes,
    async close() {
      closing = true;
      await router.close();
      await Promise.all(nodes.map((n) => stopChild(n.child)));
    },
  };
}

/**
 * The generated secret of a dev cluster, kept in `<data>/cluster-secret` (mode 0600) so that a
 * restart reuses it and other local tools (`seqdb rebalance --cluster-secret "$(cat ...)"`) can
 * prove it too.
 */
function devClusterSecret(dataDir: string, log: (line: string) => void): string {
  const file = join(dataDir, 'cluster-secret');
  // An empty file is a write that never completed (a disk error, or an OS crash before it reached
  // the disk): every start read it and refused it (a review). No node keeps the secret, so a new
  // one is as good.
  const kept = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  if (kept !== '') return kept;
  const secret = ClusterSecret.generate();
  mkdirSync(dataDir, { recursive: true });
  writeFileDurably(file, `${secret}\n`, 0o600);
  log(`generated a cluster secret for this dev cluster in ${file}`);
  return secret;
}

/** null once the node prints that it listens; its exit and last output line if it exits first. */
function nodeStarted(child: ChildProcess, prefix: string): Promise<string | null> {
  return new Promise((resolveStarted) => {
    let last = '';
    const timer = setTimeout(() => done(null), NODE_START_WAIT_MS);
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString();
      if (LISTENING.test(text)) return done(null);
      const lines = text.split('\n').filter((l) => l.trim() !== '');
      if (lines.length > 0) last = lines[lines.length - 1]!.trim();
    };
    const onExit = (code: number | null, signal: string | null): void => done(`${prefix.trim()} exited (${code ?? signal})${last !== '' ? `: ${last}` : ''}`);
    function done(why: string | null): void {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
      resolveStarted(why);
    }
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill('SIGTERM');
  });
}
