/**
 * A complete single-node SeqDB: LMDB store + state machine + group-commit executor + TCP server.
 * `seqdb dev` runs one; tests start them in-process or as child processes.
 */
import { refuseUnfinishedRestore } from '../backup/restore.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import type { AddressInfo } from 'node:net';
import { LmdbStore, StateMachine, type StateMachineOptions } from '../state-machine/index.ts';
// A single node has no replicas to agree with: it evicts by the latest token rules at once.
import { TOKEN_RULES_LATEST } from '../state-machine/options.ts';
import { refuseNewerTokenRules, setTokenRules, storedTokenRules } from '../state-machine/token-options.ts';
import { holdsShardLog } from '../replication/member-data.ts';
import { SeqServer, type ServerOptions } from '../server/server.ts';
import { SingleExecutor, type ExecutorOptions } from './executor.ts';
import { observeSingle, type NodeObservability } from '../../shared/observability/node-observer.ts';
import { DiskGuard, mib } from '../disk/disk-guard.ts';
import { lockDataDir } from '../disk/data-dir-lock.ts';

export interface SingleNodeOptions {
  /** Data directory; the LMDB environment lives in `<dataDir>/lmdb`. Created if missing. */
  readonly dataDir: string;
  readonly server?: ServerOptions;
  readonly stateMachine?: StateMachineOptions;
  readonly executor?: ExecutorOptions;
  /** Metrics, logs and SEQDB.EXPORT (shared/observability/). Default: SEQDB.EXPORT only. */
  readonly observability?: NodeObservability;
  /**
   * Free bytes of the data dir's file system under which writes get NOSPACE (node/disk/disk-guard.ts).
   * Default: no guard (in-process tests); `seqdb dev` passes 64 MiB unless told otherwise.
   */
  readonly diskReserveBytes?: number;
}

export interface SingleNode {
  readonly address: AddressInfo;
  readonly server: SeqServer;
  /** Stops accepting, finishes in-flight requests, closes LMDB. */
  close(): Promise<void>;
}

/**
 * A shard member's data dir (a Raft log or snapshot in `raft/` beside the state in `lmdb/`,
 * node/replication/member-data.ts) is refused: a single node read only the state, which may lag
 * the shard's committed log (a follower applies late; a leader's state may be ahead of its own
 * log), and handed out numbers the shard had already given, beside a shard that goes on without
 * it. It was accepted silently.
 */
function refuseReplicaDir(dataDir: string): void {
  if (!holdsShardLog(dataDir)) return;
  throw new SeqError(ErrorCode.IDENTITY_MISMATCH, `${dataDir} holds a shard member's data (raft/): start it with 'seqdb node --data ${dataDir}' and its shard's flags, not as a single node`);
}

export async function startSingleNode(options: SingleNodeOptions): Promise<SingleNode> {
  const lmdbPath = join(options.dataDir, 'lmdb');
  mkdirSync(lmdbPath, { recursive: true });
  const dirLock = lockDataDir(options.dataDir);
  let store: LmdbStore;
  try {
    refuseUnfinishedRestore(options.dataDir);
    refuseReplicaDir(options.dataDir);
    store = LmdbStore.open({ path: lmdbPath });
  } catch (err) {
    dirLock.release();
    throw err;
  }
  try {
    store.read((kv) => refuseNewerTokenRules(kv, options.dataDir));
    // Stored, not only applied by default: a build of later rules stores its own, so a rollback
    // past it is refused above rather than evicting by older rules unnoticed (a review).
    const rules = options.stateMachine?.tokenRules ?? TOKEN_RULES_LATEST;
    if (store.read(storedTokenRules) < rules) await store.write((txn) => setTokenRules(txn, rules));
  } catch (err) {
    await store.close();
    dirLock.release();
    throw err;
  }
  const log = options.observability?.logger;
  const disk = options.diskReserveBytes === undefined || options.diskReserveBytes === 0 ? undefined : new DiskGuard({
    path: options.dataDir,
    reserveBytes: options.diskReserveBytes,
    onChange: (low, free) => (low
      ? log?.warn({ event: 'disk_low', free_bytes: free }, `disk space low: ${mib(free)} MiB free under ${options.dataDir} (reserve ${mib(options.diskReserveBytes!)} MiB): writes refused (NOSPACE)`)
      : log?.info({ event: 'disk_back', free_bytes: free }, `disk space back: ${mib(free)} MiB free under ${options.dataDir}: writes resume`)),
  });
  const executor = new SingleExecutor(store, new StateMachine({ tokenRules: TOKEN_RULES_LATEST, ...options.stateMachine }), { ...options.executor, ...(disk !== undefined ? { disk } : {}) });
  const observed = observeSingle(options.observability, {
    engine: executor,
    store,
    // A backup's image waits in the data dir, within the disk guard's reserve rule when there is one.
    exports: { dir: options.dataDir, ...(disk !== undefined ? { room: (bytes: number) => disk.roomFor(bytes) } : {}) },
  });
  const server = new SeqServer(observed.engine, options.server);
  observed.attachServer(server);
  let address: AddressInfo;
  try {
    address = await server.listen();
  } catch (error) {
    await executor.close();
    dirLock.release();
    throw error;
  }
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // Exports under way end first (their read transactions, SHUTDOWN to the caller), so the
      // server's close does not wait out its grace for them.
      observed.stop();
      await server.close();
      await executor.close();
      dirLock.release();
    })());
  return { address, server, close };
}
