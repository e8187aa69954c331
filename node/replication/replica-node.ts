/**
 * One storage node of a replicated shard, assembled: Raft storage + state machine (two LMDB
 * environments under the data dir), the peer transport and the client server on ONE port, the
 * Raft driver, and the bootstrap/join procedure. `seqdb node` runs one; tests start processes.
 */
import { exitNow } from '../../shared/exit-now.ts';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { NodeId } from '../raft/types.ts';
import { SeqServer, type ServerOptions } from '../server/server.ts';
import { currentBootId, prepareStateDir } from './state-reboot-guard.ts';
import { LmdbStore, StateMachine, type StateMachineOptions } from '../state-machine/index.ts';
import { decideStart, joinUntilMember, type ProbeReply } from './cluster-join.ts';
import { LmdbRaftStorage } from './lmdb-raft-storage.ts';
import { Members } from './members.ts';
import { RaftEngine } from './raft-engine.ts';
import { RaftNode, type RaftNodeTuning } from './raft-node.ts';
import { spoolSinks } from './snapshot-spool.ts';
import { PEER_SOCKETS_RESERVE, Transport, type Control } from './transport.ts';
import { PeerFeatures, checkJoiner } from './peer-features.ts';
import type { PeerHello } from './peer-hello.ts';
import { startNodeCluster, type NodeCluster, type ShardingOptions } from '../ownership/node-cluster.ts';
import { observeReplica, replicaLog, type NodeObservability } from '../../shared/observability/node-observer.ts';
import { ClusterSecret } from '../../shared/security/cluster-proof.ts';
import { internalDialOptions } from '../../shared/security/internal-options.ts';
import { DiskGuard, mib } from '../disk/disk-guard.ts';
import { lockDataDir } from '../disk/data-dir-lock.ts';
import { TokenOptionsSync } from './token-options-sync.ts';
import { refuseNewerTokenRules } from '../state-machine/token-options.ts';
import { DiskReport } from './disk-report.ts';
import { PeerClocks } from './peer-clocks.ts';
import { keepPeerRecords, savedFeatures } from './peer-records.ts';
import { watchAbandonedMoves } from '../rebalance/abandoned-move.ts';
import { CATALOG_SHARD_ID } from '../ownership/catalog.ts';
import { readMove } from '../ownership/move-catalog.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';
import { addLearnersAtOnce, bootstrapShard, recoverLocalState } from './shard-start.ts';
import { withTimeout } from '../../shared/with-timeout.ts';
import { StateChecks } from './state-checks.ts';
import { refuseUnfinishedRestore } from '../backup/restore.ts';

export interface ReplicaNodeOptions {
  readonly dataDir: string;
  readonly shard: string;
  /** Default 'seqdb'. */
  readonly cluster?: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Peers' addresses (may include our own). */
  readonly join?: readonly string[];
  /** Form a new shard once this many fresh nodes know each other. */
  readonly bootstrapExpect?: number;
  readonly tuning?: RaftNodeTuning;
  /**
   * Free bytes of the data dir's file system under which the node refuses writes (NOSPACE),
   * takes no log entries from its leader and hands its leadership over (node/disk/disk-guard.ts).
   * Default 64 MiB; 0 turns the guard off.
   */
  readonly diskReserveBytes?: number;
  /**
   * On the catalog shard's leader: a slot move whose record has not changed this long is finished
   * or rolled back (node/rebalance/abandoned-move.ts: its coordinator died). Default 30,000 ms.
   */
  readonly moveIdleMs?: number;
  readonly stateMachine?: StateMachineOptions;
  readonly server?: Omit<ServerOptions, 'host' | 'port'>;
  /** Default: stderr with a `[node <id>]` prefix. */
  readonly log?: (line: string) => void;
  /** A storage failure; default ends the process at once (shared/exit-now.ts). */
  readonly onFatal?: (err: Error) => void;
  /** Metrics, structured logs (used when `log` is absent) and SEQDB.EXPORT (shared/observability/). */
  readonly observability?: NodeObservability;
  /**
   * Part of a cluster of shards (node/ownership/): discovery, registration in the catalog, and
   * ownership checks (committed at bootstrap, so only a shard bootstrapped with this set is
   * fenced). Absent: a standalone shard that owns every bucket.
   */
  readonly sharding?: ShardingOptions;
  /**
   * The features this node announces to its peers (peer-features.ts). Default: all this version
   * has. Tests pass [] to stand in for an older version.
   */
  readonly announceFeatures?: readonly string[];
}

export interface ReplicaNode {
  readonly nodeId: NodeId;
  readonly address: string;
  raft(): RaftNode | null;
  /** Transfers leadership away when leader (bounded wait), then stops everything. */
  shutdown(transferMs?: number): Promise<void>;
}

/** How long a member must have been silent before an mDNS announcement may change its address. */
const ANNOUNCED_ADDRESS_AFTER_SILENCE_MS = 3000;

export async function startReplicaNode(o: ReplicaNodeOptions): Promise<ReplicaNode> {
  const cluster = o.cluster ?? 'seqdb';
  const fatal = o.onFatal ?? ((): never => exitNow());
  mkdirSync(o.dataDir, { recursive: true });
  // Before anything in the dir is opened: a second process there killed the live one.
  const dirLock = lockDataDir(o.dataDir);
  let storage: LmdbRaftStorage;
  try {
    refuseUnfinishedRestore(o.dataDir);
    storage = LmdbRaftStorage.open({ dir: o.dataDir, shard: o.shard, cluster });
  } catch (err) {
    dirLock.release();
    throw err;
  }
  const nodeId = storage.identity.nodeId;
  const log = o.log ?? replicaLog(o.observability, nodeId) ?? ((line: string) => process.stderr.write(`[node ${nodeId}] ${line}\n`));
  const statePlan = prepareStateDir(join(o.dataDir, 'lmdb'), currentBootId(), storage.isInitialized());
  if (statePlan.discarded) log('the OS restarted since the state was last written without fsync: rebuilding it from the Raft snapshot and log');
  const torn = storage.tornTail;
  if (torn !== null) log(`raft log: cut a torn write after byte ${torn.at} of ${torn.path}: the process died inside it, so nothing in it was acknowledged`);
  const store = LmdbStore.open({ path: join(o.dataDir, 'lmdb'), sync: statePlan.sync });
  try {
    store.read((kv) => refuseNewerTokenRules(kv, o.dataDir));
  } catch (err) {
    await Promise.all([store.close(), storage.close()]);
    dirLock.release();
    throw err;
  }
  const machine = new StateMachine(o.stateMachine);
  const tokenOptionFlags = { tokenRetentionMs: machine.options.tokenRetentionMs, tokensMax: machine.options.tokensMax };
  const disk = new DiskGuard({
    path: o.dataDir,
    ...(o.diskReserveBytes !== undefined ? { reserveBytes: o.diskReserveBytes } : {}),
    onChange: (low, free) => {
      log(low
        ? `disk space low: ${mib(free)} MiB free under ${o.dataDir} (reserve ${mib(disk.reserveBytes)} MiB): writes refused (NOSPACE), no log entries taken from the leader, no snapshots`
        : `disk space back: ${mib(free)} MiB free under ${o.dataDir}: writes and replication resume`);
      // Not from inside the guard's own check: the report reads the guard again.
      queueMicrotask(() => diskReport.tick());
    },
  });
  const diskReport = new DiskReport({ disk, node: () => node, request: (addr, c, ms) => transport.request(addr, c, ms) });
  let advertise = `${o.host}:${o.port}`;
  const members = new Members(nodeId, advertise);
  let node: RaftNode | null = null;
  let stopped = false;

  // Every probe reply says the member's wall clock: a leader stamps writes with the voters' median (peer-clocks.ts).
  const clocks = new PeerClocks({ selfId: nodeId });
  // Replicas compare digests of their states at the same indexes (on the same probe replies).
  const stateChecks = new StateChecks({ store, log, selfId: nodeId, voters: () => node?.status().conf.voters ?? [] });
  const probe = (addr: string): Promise<Control> => {
    const sentMs = clocks.sent();
    // Saying our features in the request teaches the member asked (peer-features.ts heard).
    return transport.request(addr, { op: 'probe', features: features.announced(), ...stateChecks.announce() }, 1000).then((reply) => {
      if (typeof reply.nodeId === 'string') {
        clocks.read(reply.nodeId, reply.nowMs, sentMs);
        stateChecks.heard(reply.nodeId, reply);
      }
      return reply;
    });
  };
  /** The catalog shard's watch over slot moves (set below; only in a sharded cluster's shard 1). */
  let watchMoves: ReturnType<typeof watchAbandonedMoves> | undefined;
  /** A coordinator's heartbeat (SEQDB.MOVEALIVE); false where no move is watched. */
  const moveAlive = (epoch: number): boolean => {
    watchMoves?.moves.alive(epoch);
    return watchMoves !== undefined;
  };
  const features = new PeerFeatures({
    selfId: nodeId,
    known: savedFeatures(storage),
    addressOf: (id) => members.addressOf(id),
    probe,
    ...(o.announceFeatures !== undefined ? { announce: o.announceFeatures } : {}),
  });
  const observed = observeReplica(o.observability && { ...o.observability, ...(o.observability.logger ? { logger: o.observability.logger.child({ node: nodeId }) } : {}) }, {
    engine: new RaftEngine({ shard: o.shard, nodeId, store, members, features, clocks, stateChecks, node: () => node, close: async () => {}, moveAlive }),
    shard: o.shard, nodeId, store, storage, node: () => node,
    // A backup's image waits in the data dir; the disk guard's reserve stays the Raft log's.
    exports: { dir: o.dataDir, room: (bytes) => disk.roomFor(bytes) },
  });
  const server = new SeqServer(
    observed.engine,
    { ...o.server, host: o.host, port: o.port, cluster },
  );
  observed.attachServer(server);
  /** A damaged stored image, found sending it: one new snapshot at a time replaces it. */
  let repairing = false;
  const repairImage = (): void => {
    if (repairing || node === null) return;
    repairing = true;
    log('the stored snapshot image is damaged (it does not match its checksum): taking a new one of the state');
    node.repairSnapshot().then(
      () => log('the damaged snapshot image is replaced'),
      (err: Error) => log(`replacing the damaged snapshot image failed: ${err.message}`),
    ).finally(() => { repairing = false; });
  };
  const transport = new Transport({
    cluster,
    shard: o.shard,
    nodeId,
    advertise: () => advertise,
    addressOf: (id) => members.addressOf(id),
    isRemoved: (id) => members.isRemoved(id),
    onMessage: (m) => node?.step(m),
    onPeerHello: (h: PeerHello) => members.learnAddress(h.nodeId, h.addr),
    onControl: (h, c) => onControl(h, c),
    onClientSocket: (socket, head) => server.adopt(socket, head),
    socketsMax: (o.server?.connectionsMax ?? 10_000) + PEER_SOCKETS_RESERVE,
    onUnreachable: (id) => node?.reportUnreachable(id),
    onPeerGone: (id) => node?.peerGone(id),
    onSnapshotSent: (id, ok) => node?.reportSnapshot(id, ok),
    frameChecksums: (id) => features.has(id, 'framesums'),
    onImageDamaged: () => repairImage(),
    // A received snapshot image goes to a file as it arrives, never whole into memory.
    // Only with room for it and the two copies installing it makes (stored image, imported state).
    // A spool write failing on a bad disk stops the node, as a failed log write does.
    codec: { snapshotSink: spoolSinks(o.dataDir, (bytes) => disk.roomFor(3 * bytes), (err) => {
      log(`FATAL writing a received snapshot image failed: ${err.message}`);
      fatal(err);
    }) },
    log,
    // The cluster secret and TLS of the client server guard peer traffic too (shared/security/).
    ...(o.server?.security?.clusterSecret !== undefined ? { clusterSecret: new ClusterSecret(o.server.security.clusterSecret) } : {}),
    ...(o.server?.tls !== undefined ? { tls: o.server.tls } : {}),
  });

  // A refused joiner asks again every 200 ms: say why once a minute per node.
  const joinRefusalLoggedMs = new Map<string, number>();
  function logJoinRefusal(id: string, why: string): void {
    if (monoNowMs() - (joinRefusalLoggedMs.get(id) ?? Number.NEGATIVE_INFINITY) < 60_000) return;
    if (joinRefusalLoggedMs.size >= 1024) joinRefusalLoggedMs.clear();
    joinRefusalLoggedMs.set(id, monoNowMs());
    log(`not adding ${id}: ${why}`);
  }

  async function onControl(_from: PeerHello, c: Control): Promise<Control> {
    const st = node?.status();
    switch (c.op) {
      case 'probe':
        if (st !== undefined) features.heard(_from.nodeId, c.features, [...st.conf.voters, ...st.conf.learners]);
        stateChecks.heard(_from.nodeId, c);
        return { nodeId, addr: advertise, initialized: storage.isInitialized(), leader: node?.leaderAddress() ?? null, features: features.announced(), hasState: holdsRestoredState(), nowMs: Date.now(), ...stateChecks.announce() };
      case 'disk':
        // A follower's disk is low, or back (disk-report.ts): the leader's write refusals count it.
        node?.peerDisk(_from.nodeId, c.low === true);
        return { ok: true };
      case 'join': {
        if (typeof c.nodeId !== 'string' || typeof c.addr !== 'string') return { error: 'join needs nodeId and addr' };
        if (!node || !st) return { retry: 'not part of a shard yet' };
        if (st.conf.voters.includes(c.nodeId) || st.conf.learners.includes(c.nodeId)) return { ok: true };
        if (members.isRemoved(c.nodeId)) return { error: `node ${c.nodeId} was removed; start it with a fresh data dir` };
        if (st.role !== 'leader') return node.leaderAddress() ? { redirect: node.leaderAddress() } : { retry: 'no leader' };
        const check = await checkJoiner(probe, c.nodeId, c.addr);
        if (!check.ok) {
          logJoinRefusal(c.nodeId, check.why);
          return { error: check.why };
        }
        // Known before the change can apply: an INCS may come in before this await resumes.
        features.joined(c.nodeId, check.features);
        const r = await withTimeout(node.changeMembers({ type: 'addLearner', nodeId: c.nodeId, context: c.addr }), 1000);
        if (r && r.type === 'error') return { retry: r.message };
        log(`adding learner ${c.nodeId} at ${c.addr}`);
        return { ok: true };
      }
      default:
        return adminControl(c);
    }
  }

  async function adminControl(c: Control): Promise<Control> {
    if (!node) return { error: 'not part of a shard yet' };
    const st = node.status();
    if (c.op === 'status') return { status: st, applied: node.appliedIndex(), leader: node.leaderAddress() };
    if (st.role !== 'leader') return { redirect: node.leaderAddress() };
    if (c.op === 'transfer' && typeof c.to === 'string') {
      node.transferLeadership(c.to);
      return { ok: true };
    }
    if (c.op === 'remove' && typeof c.id === 'string') {
      const r = await node.changeMembers({ type: 'remove', nodeId: c.id });
      return r.type === 'error' ? { error: r.message } : { ok: true };
    }
    if (c.op === 'snapshot') {
      await node.snapshotNow();
      return { ok: true, index: node.appliedIndex() };
    }
    return { error: `unknown op ${String(c.op)}` };
  }

  o.observability?.metrics?.setPeerRefusalsSource(() => transport.refusedFrames());
  o.observability?.metrics?.setStateChecksSource(() => stateChecks.counts());
  const port = await transport.listen(o.host, o.port);
  advertise = `${o.host}:${port}`;
  members.restore({ ...members.image(), members: { ...members.image().members, [nodeId]: advertise } });
  await recoverLocalState(storage, store, members, advertise);
  const joinAddrs = [...(o.join ?? [])];
  /**
   * A member announced over mDNS at an address other than the one we dial, and not heard from
   * lately: dial the announced one. Addresses were learned only from hellos, so a shard whose
   * nodes all restarted on new addresses dialed the old ones forever and never elected a leader
   * (a discovery review). Unauthenticated, so only for a member we cannot reach anyway; with a
   * cluster secret an impostor's address fails the handshake and the member's own hello wins.
   */
  const learnAnnouncedAddress = (id: string, addr: string): void => {
    const current = members.addressOf(id);
    if (id === nodeId || current === undefined || current === addr || members.isRemoved(id)) return;
    if (monoNowMs() - transport.heardMs(id) < ANNOUNCED_ADDRESS_AFTER_SILENCE_MS) return;
    log(`dialing member ${id} at ${addr}, as announced (not heard from at ${current})`);
    members.learnAddress(id, addr);
  };
  const nodeCluster: NodeCluster | null = o.sharding === undefined ? null : await startNodeCluster({
    options: o.sharding, cluster, shard: o.shard, nodeId, host: o.host, port, joinAddrs, engine: server.engine,
    isLeader: () => node?.status().role === 'leader',
    memberAddrs: () => {
      const conf = node?.status().conf;
      const ids = conf ? [...conf.voters, ...conf.learners] : [];
      return ids.map((id) => members.addressOf(id)).filter((a): a is string => a !== undefined);
    },
    readState: (fn) => store.read(fn),
    log,
    internal: internalDialOptions(o.server, log, cluster),
    onShardPeer: (id, addr) => learnAnnouncedAddress(id, addr),
  });

  // Learned addresses and what members said of their features are not in the log: keep them.
  const persistMembers = keepPeerRecords({
    storage, members, features, log,
    onFatal: (err) => {
      log(`FATAL ${err.message}`);
      fatal(err);
    },
    memberIds: () => {
      const conf = node?.status().conf;
      return conf === undefined ? undefined : [...conf.voters, ...conf.learners];
    },
    stopped: () => stopped,
  });

  // A leader keeps the shard's token options those of its flags (token-options-sync.ts).
  const tokenOptions = new TokenOptionsSync({ node: () => node, store, features, log, flags: tokenOptionFlags, membersMin: o.bootstrapExpect ?? 1 });
  /** A leader whose state a majority of the voters found damaged (state-checks.ts) must not hand out numbers from it. */
  const handOverIfDamaged = (): void => {
    const st = node?.status();
    if (!stateChecks.damaged() || st === undefined || st.role !== 'leader') return;
    // The voter heard from last: a dead one would lose the TimeoutNow (asked again in a second anyway).
    const to = st.conf.voters.filter((v) => v !== nodeId).sort((a, b) => transport.heardMs(b) - transport.heardMs(a))[0];
    if (to === undefined) return;
    log(`handing leadership to ${to}: this node's state is damaged (state check)`);
    node!.transferLeadership(to);
  };
  const everySecond = setInterval(() => {
    const conf = node?.status().conf;
    if (conf === undefined || stopped) return;
    diskReport.tick();
    handOverIfDamaged();
    void tokenOptions.check().catch((err: Error) => log(`setting the token options failed: ${err.message}`));
  }, 1000);
  everySecond.unref();
  // Every node learns its peers' features ahead of need, so that a new leader can run INCS at
  // once instead of refusing it until it has asked: every 100 ms while some member is not known
  // to have them, else every second (each member is asked at most once per retryMs, or sooner
  // after a failed probe: peer-features.ts). At one second, a brand-new shard's leader refused INCS (FEATURE_OFF) for up
  // to a second after forming, and a pipelined burst of INCs of one bucket through a router got
  // TRYAGAIN (a CI run, once the slot table no longer waited 1.5 s: ownership/init-due.ts).
  let askFeatures: NodeJS.Timeout | undefined;
  const askFeaturesDue = (): void => {
    if (stopped) return;
    const conf = node?.status().conf;
    const known = conf !== undefined && features.allHave('incs', [...conf.voters, ...conf.learners]);
    askFeatures = setTimeout(askFeaturesDue, known ? 1000 : 100);
    askFeatures.unref();
  };
  askFeaturesDue();

  // The catalog shard's leader finishes or rolls back a slot move whose coordinator died; only in
  // a sharded cluster (a standalone shard 1 holds no catalog: its polls were log writes, a review).
  watchMoves = o.shard !== CATALOG_SHARD_ID || o.sharding === undefined ? undefined : watchAbandonedMoves({
    selfAddr: () => advertise,
    leads: () => !stopped && node?.status().role === 'leader',
    dial: internalDialOptions(o.server, log, cluster),
    log,
    localMove: () => store.read((kv) => readMove(kv)),
    ...(o.moveIdleMs !== undefined ? { idleMs: o.moveIdleMs } : {}),
  });

  let bootstrapPeers: readonly ProbeReply[] = [];
  /** Not in a shard yet, with a state in the store: a `seqdb restore` output (cluster-join.ts). */
  function holdsRestoredState(): boolean {
    if (storage.isInitialized()) return false;
    const summary = store.summary();
    return summary.sequences > 0 || summary.tokens > 0;
  }
  const joinDeps = {
    hasState: holdsRestoredState,
    onBootstrapPeers: (peers: readonly ProbeReply[]) => { bootstrapPeers = peers; },
    selfId: nodeId,
    selfAddr: () => advertise,
    joinAddrs,
    ...(o.bootstrapExpect !== undefined ? { bootstrapExpect: o.bootstrapExpect } : {}),
    discoverySettleMs: nodeCluster?.discoverySettleMs ?? 0,
    request: (addr: string, c: Control, ms: number) => transport.request(addr, c, ms),
    log,
    stopped: () => stopped,
  };
  const startRaft = (): void => {
    node = new RaftNode({
      shard: o.shard,
      storage,
      store,
      machine,
      members,
      send: (m) => transport.send(m),
      log,
      onFatal: fatal,
      ...(o.tuning ? { tuning: o.tuning } : {}),
      heardMs: (id) => transport.heardMs(id),
      disk,
      stampMs: (voters) => clocks.stampMs(voters),
      onStateCheckpoint: (index) => stateChecks.checkpoint(index),
    });
    node.start();
    const isMember = (): boolean => {
      const conf = node!.status().conf;
      return conf.voters.includes(nodeId) || conf.learners.includes(nodeId);
    };
    if (!isMember() && joinDeps.joinAddrs.length > 0) void joinUntilMember(joinDeps, isMember);
    if (bootstrapPeers.length > 0) void addLearnersAtOnce(node, bootstrapPeers, members, () => stopped, log, (peer) => features.joined(peer.nodeId, peer.features));
  };

  const starting = (async () => {
    if (!storage.isInitialized()) {
      const decision = await decideStart(joinDeps);
      if (decision === 'stopped') return;
      if (decision === 'bootstrap' && !storage.isInitialized()) await bootstrapShard(storage, store, members, nodeId, o.sharding ? o.shard : null, tokenOptionFlags);
    }
    if (!stopped) startRaft();
  })().catch((err: Error) => {
    log(`start failed: ${err.message}`);
    fatal(err);
  });
  if (storage.isInitialized()) await starting;

  async function shutdown(transferMs = 3000): Promise<void> {
    if (stopped) return;
    const n = node;
    if (n) await transferAway(n, nodeId, transferMs, log);
    stopped = true;
    await transport.stopAccepting();
    await nodeCluster?.stop();
    clearInterval(persistMembers);
    clearInterval(everySecond);
    stateChecks.stop();
    clearTimeout(askFeatures);
    clearInterval(watchMoves?.timer);
    observed.stop();
    await n?.stop();
    await server.close(1000);
    await transport.close();
    await starting;
    await storage.close();
    await store.close();
    dirLock.release();
  }

  return { nodeId, get address() { return advertise; }, raft: () => node, shutdown };
}

async function transferAway(n: RaftNode, self: NodeId, waitMs: number, log: (l: string) => void): Promise<void> {
  const st = n.status();
  if (st.role !== 'leader' || !st.progress) return;
  const candidates = st.conf.voters.filter((v) => v !== self).sort((a, b) => (st.progress![b]?.match ?? 0) - (st.progress![a]?.match ?? 0));
  const to = candidates[0];
  if (!to) return;
  log(`transferring leadership to ${to} before exiting`);
  n.transferLeadership(to);
  const deadline = monoNowMs() + waitMs;
  while (monoNowMs() < deadline && n.status().role === 'leader') await new Promise((r) => setTimeout(r, 20));
}
