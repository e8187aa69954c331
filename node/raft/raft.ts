import { applyConfChange, confChangeError } from './conf-change.ts';
import { decodeConfChangeEntry } from './conf-change-codec.ts';
import { Invariant, invariant } from './invariants.ts';
import { answeredFresh, type LeaderDelivery, sendStamp, startCheckPeriod } from './leader-clock.ts';
import { Progress } from './progress.ts';
import { hasQuorum } from './quorum.ts';
import { RaftLog } from './raft-log.ts';
import { ReadOnly } from './read-only.ts';
import { Uncommitted } from './uncommitted.ts';
import {
  EntryType,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type MessageDraft,
  type NodeId,
  type RaftConfig,
  type ReadState,
  type Role,
  type SoftState,
} from './types.ts';

/** Page size of whole-range log scans (conf changes after a restart or before a campaign). */
const SCAN_PAGE_BYTES = 1024 * 1024;

/** Marks vote requests of a campaign forced by TimeoutNow: they bypass the leader lease. */
export const TRANSFER_CONTEXT = 'transfer';

export type CampaignType = 'preElection' | 'election' | 'transfer';

export interface ResolvedConfig {
  readonly electionTimeoutTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly maxUncommittedBytes: number;
  readonly maxCommittedBytesPerReady: number;
  readonly maxPendingReads: number;
  readonly rng: () => number;
  readonly clockMs: (() => number) | undefined;
  readonly staleAfterMs: number;
  readonly sendCommitOnlyApps: boolean;
}

export type MessageInit = Partial<Message> & Pick<Message, 'type' | 'to'>;

function resolve(c: RaftConfig): ResolvedConfig {
  const r: ResolvedConfig = {
    electionTimeoutTicks: c.electionTimeoutTicks ?? 10,
    heartbeatTicks: c.heartbeatTicks ?? 1,
    preVote: c.preVote ?? true,
    checkQuorum: c.checkQuorum ?? true,
    maxMsgBytes: c.maxMsgBytes ?? 1024 * 1024,
    maxInflightMsgs: c.maxInflightMsgs ?? 256,
    maxUncommittedBytes: c.maxUncommittedBytes ?? 64 * 1024 * 1024,
    maxCommittedBytesPerReady: c.maxCommittedBytesPerReady ?? 4 * 1024 * 1024,
    maxPendingReads: c.maxPendingReads ?? 4096,
    rng: c.rng,
    clockMs: c.clockMs,
    staleAfterMs: c.staleAfterMs ?? 1000,
    sendCommitOnlyApps: c.sendCommitOnlyApps ?? false,
  };
  if (!(r.heartbeatTicks >= 1 && r.electionTimeoutTicks > r.heartbeatTicks)) {
    throw new Error('raft config: need 1 <= heartbeatTicks < electionTimeoutTicks');
  }
  if (!(r.maxInflightMsgs >= 1 && r.maxMsgBytes >= 1)) throw new Error('raft config: bad bounds');
  if (typeof r.rng !== 'function') throw new Error('raft config: rng is required');
  return r;
}

/**
 * The state of one Raft node. Role behaviour lives in step.ts, step-leader.ts and
 * step-follower.ts (stepFollower, stepCandidate: free functions over this state); elections
 * in election.ts, replication in replication.ts.
 */
export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  readonly log: RaftLog;
  term = 0;
  vote: NodeId | null = null;
  lead: NodeId | null = null;
  role: Role = 'follower';
  conf: ConfState;
  /** Index at which `conf` took effect (a conf entry or the snapshot point). */
  confIndex: number;
  /**
   * Membership as of `log.applied`, for status() (drivers snapshot with it). Differs from
   * `conf` only while a received snapshot awaits install: raft already follows its membership.
   */
  appliedConf: ConfState;
  progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  readonly readOnly = new ReadOnly();
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee: NodeId | null = null;
  /** Leader: ticks since the transfer to leadTransferee started. */
  transferElapsed = 0;
  /** Leader: index of the latest conf change proposed; a new one waits until it is applied. */
  pendingConfIndex = 0;
  /** Leader: its own proposals not committed yet (the maxUncommittedBytes bound). */
  readonly uncommitted = new Uncommitted();
  /** Leader: proposals arrived since the last broadcast; flushed as one batch at ready(). */
  pendingBcast = false;
  /** Follower: the fastest delivery from the current leader (leader-clock.ts). */
  leaderDelivery: LeaderDelivery | null = null;
  /** Leader: clockMs at the start of the previous and the current check-quorum period. */
  checkPeriodStartsMs: [number, number] = [0, 0];
  /** Term and commit at the last checkInvariants(), to assert neither goes back. */
  private checkedTerm = 0;
  private checkedCommit = 0;

  constructor(config: RaftConfig) {
    this.id = config.id;
    this.cfg = resolve(config);
    const storage = config.storage;
    const { hardState, confState } = storage.initialState();
    this.log = new RaftLog(storage);
    // The conf in confState is the snapshot's; the log may begin below it (entries kept for
    // lagging followers), and conf changes at or below it are already in confState.
    const snapIndex = storage.snapshotIndex();
    invariant(snapIndex >= storage.firstIndex() - 1 && snapIndex <= this.log.lastIndex(), Invariant.SNAPSHOT_IN_LOG, () => `snapshot ${snapIndex}, log ${storage.firstIndex()}..${this.log.lastIndex()}`);
    invariant(hardState.commit <= this.log.lastIndex(), Invariant.COMMIT_LE_LAST, () => `stored commit ${hardState.commit}`);
    this.log.committed = Math.max(hardState.commit, snapIndex);
    const applied = Math.max(config.applied ?? 0, snapIndex);
    invariant(applied <= this.log.committed, Invariant.APPLIED_LE_COMMIT, () => `applied ${applied} > commit`);
    this.log.applied = applied;
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.conf = { voters: [...confState.voters], learners: [...confState.learners] };
    this.appliedConf = this.conf;
    this.confIndex = snapIndex;
    // Conf changes the state machine already applied are not in confState; replay them.
    if (applied > snapIndex) {
      this.scanLog(snapIndex + 1, applied, (e) => {
        if (e.type === EntryType.ConfChange) this.applyConfEntry(e);
        return false;
      });
    }
    this.becomeFollower(this.term, null);
  }

  // ---- helpers -----------------------------------------------------------------------------

  isVoter(id: NodeId): boolean {
    return this.conf.voters.includes(id);
  }

  /** Only voters campaign; learners and removed or not-yet-added nodes never do. */
  promotable(): boolean {
    return this.isVoter(this.id);
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  /**
   * Queues m for sending; returns the clock stamp it carries (app and heartbeat with a clock).
   * A field of m left undefined takes its default, or stays absent if it is optional; answers
   * pass `stamp: m.stamp` to echo the stamp of what they answer (leader-clock.ts).
   */
  send(m: MessageInit): number | undefined {
    const stamp = m.type === 'app' || m.type === 'heartbeat' ? sendStamp(this) : undefined;
    // Field by field, not `{ ...defaults, ...m }`: that spread was a third of the simulator's CPU
    // (V8 copies spread objects through its slow path), and every Raft message passes here.
    const msg: MessageDraft = {
      type: m.type,
      from: m.from ?? this.id,
      to: m.to,
      term: m.term ?? this.term,
      index: m.index ?? 0,
      logTerm: m.logTerm ?? 0,
      commit: m.commit ?? 0,
      entries: m.entries ?? [],
      reject: m.reject ?? false,
      rejectHint: m.rejectHint ?? 0,
    };
    if (m.snapshot !== undefined) msg.snapshot = m.snapshot;
    if (m.context !== undefined) msg.context = m.context;
    const carried = m.stamp ?? stamp;
    if (carried !== undefined) msg.stamp = carried;
    this.msgs.push(msg);
    return stamp;
  }

  setVote(v: NodeId): void {
    invariant(this.vote === null || this.vote === v, Invariant.ONE_VOTE_PER_TERM, () => `term ${this.term}: voted ${this.vote}, now ${v}`);
    this.vote = v;
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  /** Heard from a live leader within the (minimum) election timeout: the leader lease (§4.2.3). */
  inLease(): boolean {
    return this.cfg.checkQuorum && this.lead !== null && this.electionElapsed < this.cfg.electionTimeoutTicks;
  }

  // ---- role transitions --------------------------------------------------------------------

  private reset(term: number): void {
    invariant(term >= this.term, Invariant.TERM_MONOTONIC, () => `${this.term} -> ${term}`);
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout =
      this.cfg.electionTimeoutTicks + Math.floor(this.cfg.rng() * this.cfg.electionTimeoutTicks);
    this.leadTransferee = null;
    this.transferElapsed = 0;
    this.votes.clear();
    this.readOnly.reset();
    this.pendingConfIndex = 0;
    this.uncommitted.reset();
    this.pendingBcast = false;
    this.progress = new Map();
    const next = this.log.lastIndex() + 1;
    for (const id of this.conf.voters) this.progress.set(id, new Progress(next, this.cfg.maxInflightMsgs, false));
    for (const id of this.conf.learners) this.progress.set(id, new Progress(next, this.cfg.maxInflightMsgs, true));
  }

  becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  becomePreCandidate(): void {
    invariant(this.role !== 'leader', 'leader does not campaign', () => `${this.id}`);
    // Neither term nor vote change: a pre-election must not disturb anyone (§9.6).
    this.votes.clear();
    this.lead = null;
    this.role = 'preCandidate';
  }

  becomeCandidate(): void {
    invariant(this.role !== 'leader', 'leader does not campaign', () => `${this.id}`);
    this.reset(this.term + 1);
    this.setVote(this.id);
    this.role = 'candidate';
  }

  becomeLeader(): void {
    invariant(this.role === 'candidate', 'only a candidate becomes leader', () => this.role);
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.progress.get(this.id)!;
    // Only what the driver acknowledged as durable counts toward commit (etcd issue 14370).
    self.match = this.log.stableLastIndex();
    self.becomeReplicate();
    self.recentActive = true;
    startCheckPeriod(this, true);
    // An uncommitted conf change may sit in the log; allow none until everything is applied.
    this.pendingConfIndex = this.log.lastIndex();
    // The no-op of this term (§5.4.2, Figure 8): commits all earlier entries once replicated.
    this.appendEntries([{ index: 0, term: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
    this.pendingBcast = true;
  }

  /** Leader: appends at the end of its log, never truncating it. */
  appendEntries(ents: readonly Entry[]): Entry[] {
    const last = this.log.lastIndex();
    const out = ents.map((e, i) => ({ index: last + 1 + i, term: this.term, type: e.type, data: e.data }));
    invariant(this.role === 'leader', Invariant.LEADER_APPEND_ONLY, () => `appendEntries as ${this.role}`);
    this.log.append(out, true);
    return out;
  }

  // ---- membership --------------------------------------------------------------------------

  /**
   * Applies a committed ConfChange entry (called when the driver advance()s past it, or on
   * restart for entries already applied). Invalid or already-reflected changes are no-ops,
   * identically on every replica.
   */
  applyConfEntry(e: Entry): void {
    const next = confAfter(this.appliedConf, e);
    this.appliedConf = next;
    // A snapshot received but not yet installed may already have moved raft's conf past e.
    if (e.index <= this.confIndex) return;
    this.confIndex = e.index;
    if (next === this.conf) return;
    this.conf = next;
    this.syncProgress();
  }

  /** Tracks exactly the members of `conf`, keeping the progress of those that stay. */
  private syncProgress(): void {
    const next = this.log.lastIndex() + 1;
    const members = new Map<NodeId, boolean>();
    for (const id of this.conf.voters) members.set(id, false);
    for (const id of this.conf.learners) members.set(id, true);
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const [id, learner] of members) {
      const pr = this.progress.get(id);
      if (pr !== undefined) pr.learner = learner;
      else this.progress.set(id, new Progress(next, this.cfg.maxInflightMsgs, learner));
    }
  }

  /** Called when leadership is checked after a conf change: a removed leader steps down. */
  stepDownIfRemoved(): boolean {
    if (this.role === 'leader' && !this.isVoter(this.id)) {
      this.becomeFollower(this.term, null);
      return true;
    }
    return false;
  }

  /** Whether a committed but unapplied conf change exists: such a node must not campaign yet. */
  hasUnappliedConfChanges(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    return this.scanLog(lo, this.log.committed, (e) => e.type === EntryType.ConfChange);
  }

  /**
   * Visits entries lo..hi in pages of `scanPageBytes` until `visit` says stop; whether it did.
   * In pages: after an OS restart discarded the state, lo..hi can be the whole log since the
   * snapshot, and reading it in one slice held all of it in memory at once (a review).
   */
  private scanLog(lo: number, hi: number, visit: (e: Entry) => boolean): boolean {
    for (let at = lo; at <= hi;) {
      const page = this.log.slice(at, hi + 1, SCAN_PAGE_BYTES);
      for (const e of page) if (visit(e)) return true;
      at += page.length;
    }
    return false;
  }

  /** Check-quorum: the leader heard from a majority of voters in the last election timeout. */
  quorumActive(): boolean {
    const active = new Set<NodeId>();
    for (const [id, pr] of this.progress) {
      if (id === this.id || (pr.recentActive && answeredFresh(this, pr.echoedStampMs))) active.add(id);
      if (id !== this.id) pr.recentActive = false;
    }
    startCheckPeriod(this, false);
    return hasQuorum(this.conf.voters, active);
  }

  /** Checked after every input (RawNode); term and commit are compared with the last check. */
  checkInvariants(): void {
    const l = this.log;
    invariant(l.committed <= l.lastIndex(), Invariant.COMMIT_LE_LAST, () => `commit ${l.committed} > last ${l.lastIndex()}`);
    invariant(l.applied <= l.committed, Invariant.APPLIED_LE_COMMIT, () => `applied ${l.applied} > commit ${l.committed}`);
    invariant(this.term >= this.checkedTerm, Invariant.TERM_MONOTONIC, () => `${this.checkedTerm} -> ${this.term}`);
    invariant(l.committed >= this.checkedCommit, Invariant.COMMIT_MONOTONIC, () => `${this.checkedCommit} -> ${l.committed}`);
    invariant(this.role !== 'leader' || (this.vote === this.id && this.lead === this.id), Invariant.LEADER_VOTED_SELF, () => `leader ${this.id} vote ${this.vote} lead ${this.lead}`);
    this.checkedTerm = this.term;
    this.checkedCommit = l.committed;
  }
}

/**
 * The membership after the committed conf entry `e`, given `conf` before it: the membership
 * the leader recorded in the entry, or the plain change applied. Undecodable or invalid
 * changes leave `conf` (the same object) unchanged, identically on every replica.
 */
function confAfter(conf: ConfState, e: Entry): ConfState {
  let decoded;
  try {
    decoded = decodeConfChangeEntry(e.data);
  } catch {
    return conf;
  }
  const { cc, result } = decoded;
  if (result !== undefined) return result;
  return confChangeError(conf, cc) === null ? applyConfChange(conf, cc) : conf;
}
