/**
 * `seqdb node`: one storage node of a replicated shard (Raft over TCP, LMDB on disk).
 * `seqdb node admin <op> --addr H:P`: leadership transfer, node removal, snapshot, status.
 */
import { exitNowOnUncaught } from '../../shared/exit-now.ts';
import { parseShutdownTimeout, stopOnSignals } from '../stop-signals.ts';
import { resolve } from 'node:path';
import { startReplicaNode } from '../../node/replication/replica-node.ts';
import { Transport } from '../../node/replication/transport.ts';
import { CliError, DISK_RESERVE_USAGE, MOVE_IDLE_USAGE, parseDiskReserve, parseFlags, parseIntInRange, parsePort, parsePositiveInt, type Subcommand } from '../cli.ts';
import { SECURITY_FLAGS, SECURITY_USAGE, securityFromFlags } from '../../shared/security/cli-flags.ts';
import { ClusterSecret } from '../../shared/security/cluster-proof.ts';
import { OPS_FLAGS, OPS_USAGE, Metrics, makeLogger, maybeAdmin, parseAdminPort, stopIfFails } from '../ops-flags.ts';

const USAGE = `Usage: seqdb node --shard ID --host IP --port PORT --data DIR [--bootstrap-expect N] [--join H:P,...]
       seqdb node admin <status|transfer ID|remove ID|snapshot> --addr H:P [--shard ID] [--cluster NAME]
       (without --shard, the shard of the node at --addr)

Runs one storage node of shard --shard. Clients and peers use the same --port.
Without --join, nodes find each other with mDNS on the interface of --host and form a sharded
cluster (shard 1 holds the catalog); with --join alone the shard is standalone and owns every bucket.

Options:
  --shard <id>               shard this node serves (stored in --data; a mismatch is refused)
  --host <ip>                address to listen on and advertise (default 127.0.0.1)
  --port <n>                 TCP port for clients and peers (default 7379; 0 picks a free one)
  --data <dir>               data directory (default ./data)
  --cluster <name>           cluster name (default seqdb; stored in --data)
  --join <h:p,...>           peers' addresses; may include this node's own
  --bootstrap-expect <n>     form a new shard once n fresh nodes know each other
  --catalog <h:p,...>        with --join: addresses of catalog-shard (shard 1) nodes; makes this
                             shard part of a sharded cluster without multicast (see router/DESIGN.md)
  --shards-expect <n>        catalog shard only: assign slots as soon as n shards are registered
                             (without it: once no shard registered for 1.5 s)
  --tick-ms <n>              Raft tick (default 50)
  --election-ticks <n>       election timeout in ticks, randomized in [n, 2n) (default 10)
  --snapshot-entries <n>     applied entries (or writes) between snapshots (default 10000); a
                             snapshot also waits until the log since the last one is as large
                             as that snapshot; the log keeps the entries since the one before
                             (at most 4 x n), for followers that lag less than that
  --apply-hold-ms <n>        a follower may keep committed entries back this long to apply them
                             together (default 10; 0 applies each batch at once; at most 1000)
  --state-check-entries <n>  every n log indexes each replica digests its state and compares it
                             with the others' (default 10000; 0 off; see README, Durability)
  --token-retention-ms <n>   how long INC ... ID tokens are remembered (default 86400000 = 24 h)
  --tokens-max <n>           most tokens remembered (default 1000000)
${DISK_RESERVE_USAGE}
${MOVE_IDLE_USAGE}
${OPS_USAGE}
  -h, --help                 show this help

${SECURITY_USAGE}

SIGTERM on the leader transfers leadership before the process exits.`;

const FLAGS = {
  shard: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  data: { type: 'string' },
  cluster: { type: 'string' },
  join: { type: 'string' },
  'bootstrap-expect': { type: 'string' },
  'tick-ms': { type: 'string' },
  'election-ticks': { type: 'string' },
  'snapshot-entries': { type: 'string' },
  'apply-hold-ms': { type: 'string' },
  'state-check-entries': { type: 'string' },
  'token-retention-ms': { type: 'string' },
  'tokens-max': { type: 'string' },
  'disk-reserve-mb': { type: 'string' },
  'move-idle-ms': { type: 'string' },
  catalog: { type: 'string' },
  'shards-expect': { type: 'string' },
  addr: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...SECURITY_FLAGS,
  ...OPS_FLAGS,
} as const;

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export const node: Subcommand = {
  name: 'node',
  summary: 'run one storage node of a replicated shard (Raft), or administer one',
  async run(argv) {
    if (argv[0] === 'admin') return admin(argv.slice(1));
    const { values } = parseFlags(argv, FLAGS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    // A crash must end this process even with an LMDB write in flight (shared/exit-now.ts).
    exitNowOnUncaught();
    const shard = values.shard;
    if (shard === undefined || !NAME.test(shard)) throw new CliError('--shard is required: 1-64 of [A-Za-z0-9_.-]');
    const cluster = values.cluster ?? 'seqdb';
    if (!NAME.test(cluster)) throw new CliError('--cluster must be 1-64 of [A-Za-z0-9_.-]');
    const host = values.host ?? '127.0.0.1';
    if (!/^[\x21-\x7e]+$/.test(host)) throw new CliError('--host must be an address');
    const join = parseJoin(values.join);
    const bootstrapExpect = parsePositiveInt('bootstrap-expect', values['bootstrap-expect']);
    const tickMs = parsePositiveInt('tick-ms', values['tick-ms']);
    const electionTimeoutTicks = parsePositiveInt('election-ticks', values['election-ticks']);
    if (electionTimeoutTicks !== undefined && electionTimeoutTicks < 2) throw new CliError('--election-ticks must be at least 2');
    const snapshotEntries = parsePositiveInt('snapshot-entries', values['snapshot-entries']);
    const applyHoldMs = parseIntInRange('apply-hold-ms', values['apply-hold-ms'], 0, 1000);
    const stateCheckEntries = parseIntInRange('state-check-entries', values['state-check-entries'], 0, 1_000_000_000);
    const diskReserveBytes = parseDiskReserve(values['disk-reserve-mb']);
    const moveIdleMs = parsePositiveInt('move-idle-ms', values['move-idle-ms']);
    const dataDir = resolve(values.data ?? './data');
    const catalog = parseJoin(values.catalog);
    const shardsExpect = parsePositiveInt('shards-expect', values['shards-expect']);
    // No --join: discovery. --catalog: static sharded cluster. --join alone: standalone shard.
    const sharded = join.length === 0 || catalog.length > 0;
    const security = cliSecurity(values);
    // The same port speaks the peer protocol, which a password does not guard: without a cluster
    // secret, a client that sends a peer hello instead of AUTH could join the shard and read it.
    if (security.password !== undefined && security.clusterSecret === undefined) {
      throw new CliError('--requirepass needs --cluster-secret (or SEQDB_CLUSTER_SECRET) on a node: the password does not guard the node-to-node protocol on the same port');
    }
    const adminPort = parseAdminPort(values['admin-port']);
    const shutdownTimeoutMs = parseShutdownTimeout(values['shutdown-timeout-ms']);
    const logger = makeLogger(values, { role: 'node', shard });
    const metrics = new Metrics({ component: 'node', shard });
    const n = await startReplicaNode({
      observability: { logger, metrics },
      server: security.server,
      ...(sharded ? { sharding: { discovery: join.length === 0, catalog, ...(shardsExpect !== undefined ? { shardsExpect } : {}) } } : {}),
      dataDir,
      shard,
      cluster,
      host,
      port: parsePort(values.port, 7379),
      join,
      ...(bootstrapExpect !== undefined ? { bootstrapExpect } : {}),
      tuning: { tickMs, electionTimeoutTicks, snapshotEntries, applyHoldMs, stateCheckEntries },
      ...(diskReserveBytes !== undefined ? { diskReserveBytes } : {}),
      ...(moveIdleMs !== undefined ? { moveIdleMs } : {}),
      stateMachine: {
        tokenRetentionMs: parsePositiveInt('token-retention-ms', values['token-retention-ms']),
        tokensMax: parsePositiveInt('tokens-max', values['tokens-max']),
      },
      // Tests only: announce these features (comma list, '' for none) to stand in for an older version.
      ...(process.env.SEQDB_TEST_ANNOUNCE_FEATURES !== undefined ? { announceFeatures: process.env.SEQDB_TEST_ANNOUNCE_FEATURES.split(',').filter((f) => f !== '') } : {}),
    });
    console.log(`seqdb node ${n.nodeId} of shard ${shard} listening on ${n.address} (data: ${dataDir})`);
    metrics.setDefaultLabels({ component: 'node', shard, node: n.nodeId });
    const adminServer = await stopIfFails(maybeAdmin(adminPort, values['admin-host'] ?? host, metrics, `seqdb node ${n.nodeId}`), () => n.shutdown());
    const nodeLog = logger.child({ node: n.nodeId });
    return stopOnSignals({
      close: () => n.shutdown().then(() => adminServer?.close()),
      timeoutMs: shutdownTimeoutMs,
      onSignal: (signal) => nodeLog.info({ event: 'shutdown', signal }, `seqdb node: ${signal}, shutting down`),
      onTimeout: (ms) => nodeLog.error({ event: 'shutdown_timeout', ms }, `seqdb node: shutdown did not finish within ${ms} ms (a disk that does not answer?); exiting now`),
      onError: (err) => console.error(`seqdb node: shutdown failed: ${err.message}`),
    });
  },
};

function parseJoin(text: string | undefined): string[] {
  if (text === undefined || text === '') return [];
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const a of list) {
    const i = a.lastIndexOf(':');
    const port = Number(a.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new CliError(`--join: bad address '${a}' (want host:port)`);
  }
  return list;
}

async function admin(argv: readonly string[]): Promise<number> {
  const [op, ...rest] = argv;
  const arg = rest[0] !== undefined && !rest[0].startsWith('--') ? rest.shift() : undefined;
  const { values } = parseFlags(rest, FLAGS);
  if (values.help || op === undefined) {
    console.log(USAGE);
    return op === undefined ? 2 : 0;
  }
  const addr = values.addr;
  if (!addr) throw new CliError('admin needs --addr H:P of a node');
  const control: Record<string, unknown> = { op };
  if (op === 'transfer') control.to = arg;
  else if (op === 'remove') control.id = arg;
  else if (op !== 'snapshot' && op !== 'status') throw new CliError(`unknown admin op '${op}'`);
  if ((op === 'transfer' || op === 'remove') && !arg) throw new CliError(`${op} needs a node id`);
  const security = cliSecurity(values);
  // An admin client is a peer of the shard for one request; its id marks it as such in logs.
  // Without --shard it asks as shard 0, and a node of another shard names its own in the refusal.
  const transport = (shard: string): Transport => new Transport({
    ...(security.clusterSecret !== undefined ? { clusterSecret: new ClusterSecret(security.clusterSecret) } : {}),
    ...(security.server.tls !== undefined ? { tls: security.server.tls } : {}),
    cluster: values.cluster ?? 'seqdb', shard, nodeId: `admin-${process.pid}`, advertise: () => 'admin:1',
    addressOf: () => undefined, isRemoved: () => false, onMessage: () => {}, onPeerHello: () => {},
    onControl: async () => ({}), onClientSocket: (s) => s.destroy(), onUnreachable: () => {}, onSnapshotSent: () => {},
    log: (l) => console.error(l),
  });
  let t = transport(values.shard ?? '0');
  let target = addr;
  for (let hop = 0; hop < 4; hop++) {
    let reply;
    try {
      reply = await t.request(target, control, 10_000);
    } catch (err) {
      const theirs = values.shard === undefined && hop === 0 ? SHARD_REFUSAL.exec((err as Error).message)?.[1] : undefined;
      if (theirs === undefined) throw err;
      await t.close();
      t = transport(theirs);
      hop--;
      values.shard = theirs;
      continue;
    }
    if (typeof reply.redirect === 'string' && op !== 'status') {
      target = reply.redirect;
      continue;
    }
    console.log(JSON.stringify(reply, null, 2));
    await t.close();
    return reply.error ? 1 : 0;
  }
  await t.close();
  console.error('seqdb node admin: too many redirects');
  return 1;
}

/** A node's refusal of a peer that named another shard (transport.ts `refusal`). */
const SHARD_REFUSAL = /shard \S+ is not ([A-Za-z0-9_.-]{1,64})/;

function cliSecurity(values: Parameters<typeof securityFromFlags>[0]): ReturnType<typeof securityFromFlags> {
  try {
    return securityFromFlags(values);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

export default node;
