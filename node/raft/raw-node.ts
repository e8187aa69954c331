import { hup } from './election.ts';
import { propose, proposeConfChange, readIndex, transferLeadership } from './leader-requests.ts';
import { Raft } from './raft.ts';
import { bcastAppend, commitMoved, maybeCommit } from './replication.ts';
import { step, tick } from './step.ts';
import {
  EntryType,
  type ConfChange,
  type HardState,
  type Message,
  type NodeId,
  type ProgressStatus,
  type ProposalTicket,
  type RaftConfig,
  type RaftStatus,
  type Ready,
  type Snapshot,
  type SoftState,
} from './types.ts';

/** leaderGone: the survivors campaign this many ticks apart, in order of id. */
const LEADER_GONE_STEP_TICKS = 2;

/**
 * The synchronous API over one Raft node (model: etcd-io/raft RawNode). One Ready is
 * outstanding at a time: ready() -> persist, send, apply -> advance().
 */
export class RawNode {
  private readonly r: Raft;
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private outstanding: Ready | null = null;
  /** The outstanding Ready was produced by a leader (its entries may be written in the background). */
  private outstandingByLeader = false;

  constructor(config: RaftConfig) {
    this.r = new Raft(config);
    this.prevHardState = this.r.hardState();
    this.prevSoftState = this.r.softState();
  }

  tick(): void {
    tick(this.r);
    this.r.checkInvariants();
  }

  step(m: Message): void {
    step(this.r, m);
    this.r.checkInvariants();
  }

  propose(data: Uint8Array): ProposalTicket {
    const ticket = propose(this.r, data);
    this.r.checkInvariants();
    return ticket;
  }

  proposeConfChange(cc: ConfChange): ProposalTicket {
    const ticket = proposeConfChange(this.r, cc);
    this.r.checkInvariants();
    return ticket;
  }

  /** A received snapshot not yet handed out and acknowledged as stored (the driver's ownership). */
  pendingSnapshot(): Snapshot | undefined {
    return this.r.log.unstable.snapshot;
  }

  readIndex(context: string): void {
    readIndex(this.r, context);
  }

  transferLeadership(to: NodeId): void {
    transferLeadership(this.r, to);
    this.r.checkInvariants();
  }

  /**
   * Starts an election now (pre-vote first when enabled); no-op for learners, non-members,
   * leaders, and while a committed conf change is not applied yet (as on election timeout).
   */
  campaign(): void {
    hup(this.r, 'election');
    this.r.checkInvariants();
  }

  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    const r = this.r;
    return (
      r.msgs.length > 0 ||
      (r.pendingBcast && r.role === 'leader') ||
      r.log.unstable.hasPending() ||
      r.log.unstable.snapshot !== undefined ||
      r.readStates.length > 0 ||
      r.log.hasNextCommittedEnts() ||
      !sameHardState(r.hardState(), this.prevHardState) ||
      !sameSoftState(r.softState(), this.prevSoftState)
    );
  }

  ready(): Ready {
    if (this.outstanding !== null) throw new Error('raft: ready() called again before advance()');
    const r = this.r;
    if (r.pendingBcast && r.role === 'leader') bcastAppend(r);
    r.pendingBcast = false;
    const hs = r.hardState();
    const ss = r.softState();
    const snapshot = r.log.unstable.snapshot;
    const rd: Ready = {
      entries: r.log.unstable.takePending(),
      messages: r.msgs,
      committedEntries: r.log.nextCommittedEnts(r.cfg.maxCommittedBytesPerReady),
      readStates: r.readStates,
      ...(sameHardState(hs, this.prevHardState) ? {} : { hardState: hs }),
      ...(sameSoftState(ss, this.prevSoftState) ? {} : { softState: ss }),
      ...(snapshot !== undefined ? { snapshot } : {}),
    };
    r.msgs = [];
    r.readStates = [];
    this.outstanding = rd;
    this.outstandingByLeader = r.role === 'leader';
    return rd;
  }

  /**
   * The driver persisted, sent and applied the last Ready. With `entriesPending` (a leader only,
   * no snapshot in the Ready) its entries may still be being written: the driver reports them
   * with appended() once durable, in order, and until then the leader's own copy does not count
   * toward commit (Ongaro's thesis §10.2.1: the leader writes in parallel with replicating).
   */
  advance(opts?: { readonly entriesPending?: boolean }): void {
    const rd = this.outstanding;
    if (rd === null) throw new Error('raft: advance() without ready()');
    const pending = opts?.entriesPending === true;
    // Checked against the role that produced the Ready: the node may have stepped down while the
    // driver handled it, and its write still reports through appended().
    if (pending && (rd.snapshot !== undefined || !this.outstandingByLeader)) throw new Error('raft: entriesPending is for a leader\'s entries only');
    this.outstanding = null;
    const r = this.r;
    if (rd.hardState) this.prevHardState = rd.hardState;
    if (rd.softState) this.prevSoftState = rd.softState;
    if (rd.snapshot) {
      r.log.unstable.stableSnapTo(rd.snapshot.meta.index);
      r.log.appliedTo(rd.snapshot.meta.index);
      r.appliedConf = { voters: [...rd.snapshot.meta.conf.voters], learners: [...rd.snapshot.meta.conf.learners] };
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined && !pending) r.log.unstable.stableTo(last.index, last.term);
    this.applyCommitted(rd);
    this.countOwnCopy();
    r.checkInvariants();
  }

  /**
   * The entries through (index, term), handed out by a Ready advanced with `entriesPending`,
   * are durable. Ignored if the log replaced that entry meanwhile.
   */
  appended(index: number, term: number): void {
    this.r.log.unstable.stableTo(index, term);
    this.countOwnCopy();
    this.r.checkInvariants();
  }

  /** The leader's own copy counts toward the quorum only once it is durable. */
  private countOwnCopy(): void {
    const r = this.r;
    if (r.role !== 'leader') return;
    r.progress.get(r.id)?.maybeUpdate(r.log.stableLastIndex());
    const from = r.log.committed;
    if (maybeCommit(r)) commitMoved(r, from);
  }

  private applyCommitted(rd: Ready): void {
    const r = this.r;
    const ents = rd.committedEntries;
    if (ents.length === 0) return;
    let confChanged = false;
    for (const e of ents) {
      if (e.type === EntryType.ConfChange) {
        r.applyConfEntry(e);
        confChanged = true;
      }
    }
    r.log.appliedTo(ents[ents.length - 1]!.index);
    if (!confChanged || r.role !== 'leader') return;
    if (r.stepDownIfRemoved()) return;
    if (r.leadTransferee !== null && !r.isVoter(r.leadTransferee)) r.leadTransferee = null;
    // The quorum may have shrunk, and new learners need their first probe.
    maybeCommit(r);
    bcastAppend(r);
  }

  /**
   * The driver saw the leader `id` close its connection (its process died: the kernel closed the
   * socket). A follower then stops honoring its lease and campaigns within a few ticks instead of
   * a whole election timeout. Always safe (an election is); a leader that is in fact alive keeps
   * its place: its next heartbeat restores it here before the campaign starts, and pre-vote
   * fails while any other voter still hears it.
   */
  leaderGone(id: NodeId): void {
    const r = this.r;
    if (r.role !== 'follower' || r.lead !== id) return;
    r.lead = null;
    // The survivors see the close at the same moment and their tick timers often run in step
    // (processes started together): campaigns in the same tick split the vote and cost a whole
    // election timeout. So they take turns by id, LEADER_GONE_STEP_TICKS apart (more than a
    // tick, so that timers out of phase cannot meet), the first after 2 ticks (a heartbeat
    // interval or two for a live leader to show up). A survivor whose campaign cannot win (a
    // shorter log) leaves it to the next one.
    const survivors = r.conf.voters.filter((v) => v !== id).sort();
    const rank = Math.max(0, survivors.indexOf(r.id));
    const waitTicks = 2 + LEADER_GONE_STEP_TICKS * rank;
    r.electionElapsed = Math.max(r.electionElapsed, r.randomizedElectionTimeout - waitTicks);
  }

  reportUnreachable(id: NodeId): void {
    const pr = this.r.role === 'leader' ? this.r.progress.get(id) : undefined;
    if (pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.r.role === 'leader' ? this.r.progress.get(id) : undefined;
    if (pr === undefined || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the next heartbeat response before probing: the snapshot may still be applying.
    pr.probeSent = true;
  }

  /** The node's role, without building a whole status (asked for every client request). */
  get role(): RaftStatus['role'] {
    return this.r.role;
  }

  /** The core's applied index (what it handed out to apply), without building a whole status. */
  get appliedIndex(): number {
    return this.r.log.applied;
  }

  /** Whether the applied configuration has learners (cheaper than status() per loop turn). */
  get hasLearners(): boolean {
    return this.r.appliedConf.learners.length > 0;
  }

  /** The applied configuration's voters (no copy: do not change it). */
  get voters(): readonly NodeId[] {
    return this.r.appliedConf.voters;
  }

  /** The last index of the log (a leader's: of every entry it proposed so far). */
  get lastIndex(): number {
    return this.r.log.lastIndex();
  }

  status(): RaftStatus {
    const r = this.r;
    let progress: Record<NodeId, ProgressStatus> | undefined;
    if (r.role === 'leader') {
      progress = {};
      for (const [id, pr] of r.progress) {
        progress[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive, learner: pr.learner };
      }
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      firstIndex: r.log.firstIndex(),
      lastIndex: r.log.lastIndex(),
      role: r.role,
      leader: r.lead,
      conf: { voters: [...r.appliedConf.voters], learners: [...r.appliedConf.learners] },
      leadTransferee: r.leadTransferee,
      ...(progress !== undefined ? { progress } : {}),
    };
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}
