/** Options, results and the per-run core tuning of the simulator. */
import type { Rng } from './rng.ts';
import type { CoreTuning, Mutant } from './sim-node.ts';

export interface SimOptions {
  readonly seed: number;
  /** Initial voters. Default 3. */
  readonly nodes?: 3 | 5;
  /** Length of the fault phase in virtual ms. Default 10000. */
  readonly faultPhaseMs?: number;
  /** A deliberately broken driver. Default 'none'. */
  readonly mutant?: Mutant;
  /** Keep every trace line (for --verbose). Default false. */
  readonly keepTrace?: boolean;
  /** Core settings forced over the drawn ones (drawn anyway, so the seed's stream is unchanged). */
  readonly tuning?: Partial<CoreTuning>;
  /**
   * Leaders write their entries in the background and apply what a quorum holds (the driver in
   * node/replication/raft-node.ts). Default false: every Ready persists before it acts.
   */
  readonly asyncLeaderWrites?: boolean;
  /** Extra fault models (EXTRA_FAULTS; test/sim/README.md). Default none. */
  readonly extra?: ReadonlySet<string>;
  /** Trace lines kept for a failure report. Default 50. */
  readonly traceLines?: number;
}

export interface SimStats {
  elections: number;
  commits: number;
  faults: number;
  crashes: number;
  partitions: number;
  confChanges: number;
  transfers: number;
  snapshots: number;
  ok: number;
  fail: number;
  unknown: number;
  reads: number;
  messages: number;
  events: number;
  virtualMs: number;
}

export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly property?: string;
  readonly detail?: string;
  readonly traceHash: string;
  readonly trace: readonly string[];
  readonly stats: SimStats;
}

export function emptyStats(): SimStats {
  return {
    elections: 0, commits: 0, faults: 0, crashes: 0, partitions: 0, confChanges: 0, transfers: 0,
    snapshots: 0, ok: 0, fail: 0, unknown: 0, reads: 0, messages: 0, events: 0, virtualMs: 0,
  };
}

/**
 * Core settings for one run, drawn from the seed: tiny message, window and Ready limits make
 * batching, flow control and per-entry Readies happen; frequent compaction makes snapshots.
 */
export function drawTuning(rng: Rng): CoreTuning {
  return {
    electionTimeoutTicks: rng.pick([5, 10, 10, 20]),
    heartbeatTicks: rng.pick([1, 1, 2]),
    preVote: rng.chance(0.8),
    checkQuorum: rng.chance(0.8),
    maxMsgBytes: rng.pick([16, 16, 64, 256, 4096, 1 << 20]),
    maxInflightMsgs: rng.pick([1, 4, 32, 256]),
    maxUncommittedBytes: rng.pick([128, 1024, 64 << 20]),
    maxCommittedBytesPerReady: rng.pick([32, 512, 4 << 20]),
    compactEvery: rng.pick([8, 20, 50, 200]),
    compactKeep: rng.pick([0, 0, 3, 10]),
  };
}


/**
 * Extra fault models, on with `--extra a,b` (a simulator review found them missing): skew (3x fast
 * or slow clocks), stale (messages held 0.5-6 s; verystale more often), early (leader messages
 * sent before the persist, as raft-node.ts does), applyearly (durable committed entries applied
 * during the persist; restart raises commit to applied), gone (peers see a crashed node's
 * connections close: leaderGone), lazycommit (commit-only hard states kept in memory, as
 * lmdb-raft-storage.ts does), snapsent (reportSnapshot when written, not delivered), slowdisk
 * (the core is stepped while a Ready persists), fsyncstall (4% of writes take 50-400 ms), midsnap
 * (crash between storing a received snapshot and restarting the log), zombie (a removed node
 * keeps running), rollback (a restart on an older copy of the data dir: no Raft survives that).
 */
export const EXTRA_FAULTS = ['skew', 'stale', 'verystale', 'early', 'applyearly', 'gone', 'lazycommit', 'snapsent', 'slowdisk', 'fsyncstall', 'midsnap', 'zombie', 'rollback'] as const;
