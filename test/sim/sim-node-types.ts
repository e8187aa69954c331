/** The types a simulated server (sim-node.ts) is built from: its context, tuning, faults and mutants. */
import type { Message, NodeId } from '../../node/raft/types.ts';
import type { SafetyChecker } from './invariants.ts';

/** Where a torn crash stops the next Ready: nothing done, persisted only, part sent, part applied. */
export type TornStage = 'beforePersist' | 'afterPersist' | 'midSend' | 'midApply';
export const TORN_STAGES: readonly TornStage[] = ['beforePersist', 'afterPersist', 'midSend', 'midApply'];

/** Deliberately broken drivers, to prove the checks catch them. */
export type Mutant = 'none' | 'send-before-persist' | 'forget-vote' | 'skip-hardstate' | 'lose-unsynced-tail' | 'local-read' | 'count-unwritten';
export const MUTANTS: readonly Mutant[] = ['none', 'send-before-persist', 'forget-vote', 'skip-hardstate', 'lose-unsynced-tail', 'local-read', 'count-unwritten'];

export interface NodeContext {
  readonly checker: SafetyChecker;
  readonly mutant: Mutant;
  trace(line: string): void;
  send(from: NodeId, m: Message): void;
  /** The proposer learned the fate of a client op (ok with its value, or fail). */
  resolve(opId: number, outcome: 'ok' | 'fail', value?: number): void;
  /** The proposer can no longer tell the op's fate (crash, snapshot over it). */
  lose(opId: number): void;
  /** A snapshot from the leader was installed. */
  installed(): void;
  /** This node just became leader (its Ready persisted). */
  becameLeader(id: NodeId): void;
  /** As leader it just persisted a higher commit index; true: crash before telling anyone. */
  leaderCommitted(id: NodeId): boolean;
  /** A ReadIndex read was served from the local state machine. */
  readDone(readId: number, value: number): void;
  /**
   * A leader writes its entries in the background, as node/replication/raft-node.ts does: sends
   * and applies what a quorum holds before its own write is done (advance with entriesPending).
   */
  readonly asyncLeaderWrites: boolean;
  /** Extra fault models (see SimOptions.extra). */
  readonly extra: ReadonlySet<string>;
  chance(p: number): boolean;
  /** Runs `done` after a drawn disk delay (an async leader write). */
  writeLater(done: () => void): void;
  /** The virtual clock (ms), as the core's clockMs (leader-clock.ts); one clock for all nodes. */
  nowMs(): number;
  /** How many of `voters` hold the entry (index, term) on disk (or compacted under a snapshot). */
  durableCopies(index: number, term: number, voters: readonly NodeId[]): number;
}

/** Core settings drawn once per run, shared by every node. */
export interface CoreTuning {
  readonly maxMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly maxUncommittedBytes: number;
  readonly maxCommittedBytesPerReady: number;
  /** Compact the log once this many applied entries sit above the snapshot. */
  readonly compactEvery: number;
  /** Entries kept below the snapshot point when compacting (slow followers can still catch up from the log). */
  readonly compactKeep: number;
  readonly electionTimeoutTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
}
