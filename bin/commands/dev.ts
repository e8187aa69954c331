/**
 * `seqdb dev`: a working SeqDB on one machine. Today that is one node on LMDB serving clients
 * directly. Later issues add `--nodes N` (a Raft group) and `--shards N` (a router in front):
 * add the flags to FLAGS and a branch in `run` choosing what to start; clients see no difference.
 */
import { resolve } from 'node:path';
import { startSingleNode, type SingleNode } from '../../node/single/single-node.ts';
import { startDevCluster } from '../../router/dev-cluster.ts';
import { CliError, parseFlags, parsePort, parsePositiveInt, type Subcommand } from '../cli.ts';

const USAGE = `Usage: seqdb dev [--port 7379] [--host 127.0.0.1] [--data ./data]

Runs SeqDB on this machine: one node keeping its sequences in LMDB under --data.

Options:
  --port <n>                 TCP port (default 7379; 0 picks a free one)
  --host <addr>              address to listen on (default 127.0.0.1)
  --data <dir>               data directory (default ./data)
  --token-retention-ms <n>   how long INC ... ID tokens are remembered (default 86400000 = 24 h)
  --tokens-max <n>           most tokens remembered; oldest evicted first (default 1000000)
  --shards <n>               a local sharded cluster: n shards of --nodes node processes each,
                             and a router on --port; nodes use the ports after --port
  --nodes <n>                nodes per shard (default 3 with --shards); alone: one shard of n nodes
  -h, --help                 show this help`;

const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  data: { type: 'string' },
  'token-retention-ms': { type: 'string' },
  'tokens-max': { type: 'string' },
  shards: { type: 'string' },
  nodes: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
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
    const host = values.host ?? '127.0.0.1';
    if (host === '') throw new CliError('--host must not be empty');
    const dataDir = resolve(values.data ?? './data');
    const retention = parsePositiveInt('token-retention-ms', values['token-retention-ms']);
    const tokensMax = parsePositiveInt('tokens-max', values['tokens-max']);
    const nodesPerShard = parsePositiveInt('nodes', values.nodes);
    const shards = parsePositiveInt('shards', values.shards) ?? (nodesPerShard !== undefined ? 1 : undefined);
    if (shards !== undefined) {
      const nodeArgs = [
        ...(retention !== undefined ? ['--token-retention-ms', String(retention)] : []),
        ...(tokensMax !== undefined ? ['--tokens-max', String(tokensMax)] : []),
      ];
      const port = parsePort(values.port, 7379);
      if (port === 0) throw new CliError('--shards/--nodes need a fixed --port (nodes use the ports after it)');
      const nodes = nodesPerShard ?? 3;
      if (shards > 16 || nodes > 7) throw new CliError('at most 16 shards of 7 nodes');
      const cluster = await startDevCluster({ host, port, dataDir, shards, nodes, nodeArgs });
      console.log(`seqdb dev: ${shards} shards x ${nodes} nodes, router listening on ${cluster.address} (data: ${dataDir})`);
      return waitForSignal({ close: () => cluster.close() });
    }
    const node = await startSingleNode({
      dataDir,
      server: { host, port: parsePort(values.port, 7379) },
      stateMachine: { tokenRetentionMs: retention, tokensMax },
    });
    const { address, port } = node.address;
    console.log(`seqdb dev listening on ${address}:${port} (data: ${dataDir})`);
    return waitForSignal(node);
  },
};

/** Resolves with exit code 0 after a clean shutdown on SIGTERM/SIGINT; a second signal forces 1. */
function waitForSignal(node: Pick<SingleNode, 'close'>): Promise<number> {
  return new Promise((resolveExit) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) process.exit(1);
      stopping = true;
      console.log(`seqdb dev: ${signal}, shutting down`);
      node.close().then(
        () => resolveExit(0),
        (error: Error) => {
          console.error(`seqdb dev: shutdown failed: ${error.message}`);
          resolveExit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

export default dev;
