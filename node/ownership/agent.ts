/**
 * The shard agent: what the leader of each shard of a sharded cluster does on its own.
 * - Every shard leader registers its shard (and its members' addresses) in the catalog.
 * - The catalog shard's leader initializes the slot table once the shards present at start are
 *   registered (every shard seen by discovery, and `shardsExpect` if given, else no new
 *   registration for `settleMs`: init-due.ts), then pushes each shard's committed slots to that
 *   shard (SETSLOTS, committed in the target's own log) until acknowledged. Pushes are
 *   idempotent (epoch-guarded), so a new catalog leader simply pushes again.
 * Only safety-neutral decisions are taken from hints (when to initialize, where to send); what a
 * shard owns always comes from the committed table.
 */
import type { Reply } from '../../shared/protocol/index.ts';
import type { Engine } from '../server/engine.ts';
import type { CommandResult, KvReader } from '../state-machine/index.ts';
import { NodePool } from '../../router/node-connection.ts';
import type { InternalDialOptions } from '../../shared/security/internal-options.ts';
import { CATALOG_SHARD_ID, catalogEpoch, readCatalog, readShards, type CatalogView } from './catalog.ts';
import { REGISTER_ADDRS_MAX, clusterArgs, type ClusterCommand } from './cluster-command.ts';
import { shardedAs } from './ownership.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';
import { initDue } from './init-due.ts';

export interface ShardAgentDeps {
  readonly shard: string;
  /** Executes through this node's log (only works on the leader). */
  readonly engine: Engine;
  readonly isLeader: () => boolean;
  /** Addresses of this shard's members (voters and learners). */
  readonly memberAddrs: () => string[];
  /** Reads this node's applied state (the catalog, on the catalog shard). */
  readonly readState: <T>(fn: (kv: KvReader) => T) => T;
  /** Addresses of catalog-shard nodes: --catalog, discovery. */
  readonly catalogSeeds: () => string[];
  /** Shard ids seen by discovery (initialization waits for them). */
  readonly knownShards: () => string[];
  /** Initialization waits for this many registered shards, then runs at once. Default: 1, then settleMs. */
  readonly shardsExpect?: number;
  /** Without shardsExpect, registrations must be quiet this long before initializing. Default 1500 ms. */
  readonly settleMs?: number;
  /**
   * A shard seen by discovery that never registers (its nodes never form a group) delays the
   * initialization at most this long after the first registration. Default 30000 ms.
   */
  readonly initWaitMaxMs?: number;
  /** Loop period. Default 250 ms. */
  readonly intervalMs?: number;
  /** Re-registration period (refreshes address hints). Default 10000 ms. */
  readonly reregisterMs?: number;
  readonly log: (line: string) => void;
  /** Cluster secret and TLS for connections to other shards' nodes (shared/security/). Default: none. */
  readonly internal?: InternalDialOptions;
}

export interface ShardAgent {
  stop(): void;
}

const REQUEST_TIMEOUT_MS = 1000;
/** The catalog's refusal to register a removed shard (apply-cluster.ts). */
const RETIRED_TEXT = /was removed from the cluster/;

export function startShardAgent(d: ShardAgentDeps): ShardAgent {
  const pool = new NodePool(d.internal);
  const pushed = new Map<string, number>();
  const leaders = new Map<string, string>();
  let registeredKey = '';
  let registeredMs = Number.NEGATIVE_INFINITY;
  let lastShardSet = '';
  let lastShardSetChangeMs = monoNowMs();
  let firstRegisteredMs = 0;
  let stopped = false;
  let busy = false;
  let warnedStandalone = false;
  let retired = false;

  const sendToShard = async (shard: string, addrs: readonly string[], command: ClusterCommand): Promise<CommandResult | null> => {
    if (shard === d.shard) return d.engine.execute(command);
    const hint = leaders.get(shard);
    const queue = [...(hint ? [hint] : []), ...addrs];
    const tried = new Set<string>();
    while (queue.length > 0 && tried.size < 16) {
      const address = queue.shift()!;
      if (tried.has(address)) continue;
      tried.add(address);
      const out = await pool.send(address, clusterArgs(command), REQUEST_TIMEOUT_MS);
      if (!out.ok) continue;
      const r = out.reply;
      if (r.kind === 'error' && r.word === 'NOTLEADER') {
        const next = r.message.split(' ')[1];
        if (next !== undefined && next !== '?') queue.unshift(next);
        continue;
      }
      leaders.set(shard, address);
      return fromReply(r);
    }
    leaders.delete(shard);
    return null;
  };

  const register = async (): Promise<void> => {
    const addrs = d.memberAddrs().sort().slice(0, REGISTER_ADDRS_MAX);
    const key = addrs.join(',');
    if (key === registeredKey && monoNowMs() - registeredMs < (d.reregisterMs ?? 10_000)) return;
    const r = await sendToShard(CATALOG_SHARD_ID, d.catalogSeeds(), { type: 'cluster', op: 'register', shard: d.shard, addrs });
    if (r?.type === 'error' && RETIRED_TEXT.test(r.message)) {
      // `seqdb shard remove` took this shard off the list for good: stop asking.
      if (!retired) d.log(`shard ${d.shard} was removed from the cluster: not registering again (stop these nodes)`);
      retired = true;
      return;
    }
    if (r?.type === 'ok') {
      if (key !== registeredKey) d.log(`registered shard ${d.shard} in the catalog (${key})`);
      registeredKey = key;
      registeredMs = monoNowMs();
    }
  };

  const maybeInit = async (registered: readonly string[]): Promise<void> => {
    const setKey = registered.join(',');
    if (setKey !== lastShardSet) {
      lastShardSet = setKey;
      lastShardSetChangeMs = monoNowMs();
    }
    if (registered.length > 0 && firstRegisteredMs === 0) firstRegisteredMs = monoNowMs();
    const due = initDue({
      registered, known: d.knownShards(), shardsExpect: d.shardsExpect, firstRegisteredMs, lastChangeMs: lastShardSetChangeMs,
      nowMs: monoNowMs(), settleMs: d.settleMs ?? 1500, initWaitMaxMs: d.initWaitMaxMs ?? 30_000,
    });
    if (!due) return;
    const r = await d.engine.execute({ type: 'cluster', op: 'initslots' });
    if (r.type === 'int') d.log(`slot table initialized over shards ${setKey} (epoch ${r.value})`);
  };

  const push = async (view: CatalogView): Promise<void> => {
    await Promise.all(view.shards.map(async (s) => {
      // Only the first push initializes a shard (setOwnership); moves change ownership after it.
      if (pushed.has(s.id)) return;
      const r = await sendToShard(s.id, s.addrs, { type: 'cluster', op: 'setslots', shard: s.id, epoch: view.epoch, slots: s.slots });
      if (r?.type === 'int' && Number(r.value) > 0) {
        pushed.set(s.id, view.epoch);
        d.log(`shard ${s.id} committed ${s.slots.size} slots at epoch ${view.epoch}`);
      }
    }));
  };

  const round = async (): Promise<void> => {
    if (!d.isLeader()) {
      pushed.clear();
      return;
    }
    // A shard bootstrapped standalone is not fenced: registering it could make two owners.
    if (d.readState(shardedAs) !== d.shard) {
      if (!warnedStandalone) d.log(`shard ${d.shard} was bootstrapped standalone (no ownership checks): not registering it in the catalog`);
      warnedStandalone = true;
      return;
    }
    if (!retired) await register();
    if (d.shard !== CATALOG_SHARD_ID) return;
    // The slot table (16,384 owners) is built only when a shard waits for its first push: built
    // four times a second it was the top JavaScript item of an idle catalog leader's profile.
    const registered = d.readState((kv) => readShards(kv).map((s) => s.id));
    if (d.readState(catalogEpoch) === 0) {
      await maybeInit(registered);
      // A table built just now is pushed in the same round, not the next (a dev cluster's first
      // INC waits for it).
      if (d.readState(catalogEpoch) === 0) return;
    }
    if (registered.some((id) => !pushed.has(id))) await push(d.readState(readCatalog));
  };

  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    round().catch((err: Error) => d.log(`shard agent: ${err.message}`)).finally(() => {
      busy = false;
    });
  }, d.intervalMs ?? 250);
  timer.unref();

  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      pool.closeAll();
    },
  };
}

function fromReply(r: Reply): CommandResult {
  if (r.kind === 'integer') return { type: 'int', value: r.value };
  if (r.kind === 'string') return r.value.toString('latin1') === 'OK' ? { type: 'ok' } : { type: 'bulk', value: r.value };
  if (r.kind === 'null') return { type: 'nil' };
  return { type: 'error', code: 'INTERNAL', message: r.kind === 'error' ? `${r.word} ${r.message}` : 'array' };
}
