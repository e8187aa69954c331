/**
 * The Raft driver of one storage node: ticks the core, runs the Ready loop (persist -> send ->
 * apply -> advance), turns client commands into proposals and ReadIndex rounds, takes snapshots
 * and compacts. One loop at a time; the core is stepped and proposed to while a Ready persists,
 * so whatever arrives during one fsync rides the next Ready (group commit).
 *
 * Ordering rules (see DESIGN.md):
 * - Messages go out only after the entries, hard state and snapshot they depend on are fsynced,
 *   except the leader's app/heartbeat/snap/timeoutNow when its term is already durable. A
 *   leader's entries are written in the background (leader-writes.ts): its own copy counts
 *   toward commit only once written (RawNode.appended), and it applies what a quorum holds.
 * - Committed entries are applied in ONE state-machine transaction that also stores the applied
 *   index. The loop does not wait for that transaction's commit (apply-pipeline.ts): INC/SET
 *   replies go out as soon as their results are computed, everything else (and reads) once it
 *   is committed.
 * - Writes of one loop turn share one entry (write-batch.ts); snapshots are written in the
 *   background (snapshot-image.ts).
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { RawNode } from '../raft/raw-node.ts';
import { EntryType, type Entry, type Message, type NodeId, type RaftStatus, type Ready } from '../raft/types.ts';
import { encodeCommand, errorResult, read, type Command, type CommandResult, type LmdbStore, type StateMachine } from '../state-machine/index.ts';
import type { LmdbRaftStorage } from './lmdb-raft-storage.ts';
import { Members } from './members.ts';
import { Proposals, promoteCaughtUpLearner, proposeErrorResult } from './proposals.ts';
import { restoreStateFromSnapshot } from './snapshot-image.ts';
import { removalRefusal } from './reconfig-check.ts';
import { snapshotBytes } from './snapshot-images.ts';
import { releaseSnapshot } from './snapshot-spool.ts';
import { WriteBatch, distribute, type BatchedWrite } from './write-batch.ts';
import { encodeBatch } from '../state-machine/batch-codec.ts';
import { ApplyPipeline, splitCommitted } from './apply-pipeline.ts';
import type { RaftNodeTuning } from './raft-tuning.ts';
import { ReadQueue } from './read-queue.ts';
import { LEADER_MESSAGES, LeaderWrites, writesInBackground } from './leader-writes.ts';
import { LocalSnapshots } from './local-snapshots.ts';
import type { DiskGuard } from '../disk/disk-guard.ts';
import { DiskPolicy } from './disk-policy.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

export type { RaftNodeTuning };

export interface RaftNodeDeps {
  readonly shard: string;
  readonly storage: LmdbRaftStorage;
  readonly store: LmdbStore;
  readonly machine: StateMachine;
  readonly members: Members;
  readonly send: (m: Message) => void;
  readonly log: (line: string) => void;
  /** Storage failed: the node must stop participating. */
  readonly onFatal: (err: Error) => void;
  readonly tuning?: RaftNodeTuning;
  /** When a peer last sent us anything (monoNowMs; -Infinity: never): a voter's removal needs the rest alive. Default: every peer counts as alive. */
  readonly heardMs?: (id: NodeId) => number;
  /** Free space of the data dir (node/disk/disk-guard.ts). Default: none, writes until the disk is full. */
  readonly disk?: DiskGuard;
  /** The time stamped on writes, given the voters (peer-clocks.ts: their median clock). Default: Date.now(). */
  readonly stampMs?: (voters: readonly NodeId[]) => number;
  /** The state as of this index was just committed (every `stateCheckEntries`): state-checks.ts. */
  readonly onStateCheckpoint?: (index: number) => void;
}

export class RaftNode {
  readonly id: NodeId;
  private readonly raw: RawNode;
  private readonly proposals: Proposals;
  private readonly reads: ReadQueue;
  private readonly tickMs: number;
  /** A peer heard from within this long counts as alive (removalRefusal): half an election timeout. */
  private readonly liveWindowMs: number;
  private readonly pendingMax: number;
  private readonly applyHoldMs: number;
  private lastProposedIndex = 0;
  private readonly batch = new WriteBatch();
  /** Client writes accepted and not yet answered (bounded by pendingMax). */
  private writesWaiting = 0;
  private readonly applier: ApplyPipeline;
  private readonly leaderWrites: LeaderWrites;
  private timer: NodeJS.Timeout | null = null;
  private looping = false;
  private scheduled = false;
  private stopped = false;
  private failed: SeqError | null = null;
  private readonly snapshots: LocalSnapshots;
  private idleWaiters: (() => void)[] = [];
  // Bound once: the loop hands them to the read queue on every turn.
  private readonly readIndex = (ctx: string): void => this.raw.readIndex(ctx);
  private readonly notLeaderResult = (): CommandResult => this.notLeader();
  private readonly diskPolicy: DiskPolicy;

  constructor(private readonly d: RaftNodeDeps) {
    const t = d.tuning ?? {};
    this.id = d.storage.identity.nodeId;
    this.tickMs = t.tickMs ?? 50;
    this.liveWindowMs = (this.tickMs * (t.electionTimeoutTicks ?? 10)) / 2;
    this.pendingMax = t.pendingMax ?? 100_000;
    this.applyHoldMs = t.applyHoldMs ?? 10;
    this.proposals = new Proposals(t.proposalTimeoutMs ?? 5000, () => this.notLeader());
    this.reads = new ReadQueue(t.proposalTimeoutMs ?? 5000, this.pendingMax);
    this.leaderWrites = new LeaderWrites(
      (entries) => this.d.storage.persist({ entries }),
      (index, term) => {
        if (this.stopped || this.failed) return;
        this.raw.appended(index, term);
        this.schedule();
      },
      (err) => this.fail(err),
    );
    this.applier = new ApplyPipeline({
      store: d.store, machine: d.machine, members: d.members,
      onResult: (index, term, result) => this.proposals.applied(index, term, result),
      onDurable: () => this.serveReads(),
      beforeEntry: (index, txn) => this.reads.capture(index, (c) => read(txn, c)),
      onFatal: (err) => this.fail(err),
      checkpointEvery: t.stateCheckEntries ?? 10_000,
      ...(d.onStateCheckpoint !== undefined ? { onCheckpoint: d.onStateCheckpoint } : {}),
    });
    this.snapshots = new LocalSnapshots({
      storage: d.storage, store: d.store, members: d.members, applier: this.applier,
      core: () => ({ applied: this.raw.appliedIndex, conf: this.raw.status().conf }),
      log: d.log,
      onFailed: (err) => this.fail(err),
      onSettled: () => this.schedule(),
      paused: () => this.d.disk?.low() === true,
      room: (bytes) => this.d.disk === undefined || this.d.disk.freeBytes() >= this.d.disk.reserveBytes + bytes,
    }, t.snapshotEntries ?? 10_000);
    // Entries are applied while the hard state carrying their commit index may still be in
    // flight (see handleReady): after a crash the applied index can exceed the stored commit.
    d.storage.raiseCommitTo(this.applier.applied);
    // The core starts at least at the snapshot (its log may begin below it): a state behind it
    // would have entries skipped. recoverLocalState imports the image first; never silently.
    if (this.applier.applied < d.storage.snapshotIndex()) {
      throw new SeqError(ErrorCode.INTERNAL, `state applied to ${this.applier.applied}, below the stored snapshot at ${d.storage.snapshotIndex()}`);
    }
    this.raw = new RawNode({
      id: this.id,
      storage: d.storage,
      // A leader applies ahead of its own log (leader-writes.ts): after a crash the state can be
      // beyond the log. The core starts from the log; the applier skips what it already applied.
      applied: Math.min(this.applier.applied, d.storage.lastIndex()),
      electionTimeoutTicks: t.electionTimeoutTicks ?? 10,
      heartbeatTicks: t.heartbeatTicks ?? 1,
      rng: Math.random,
      // Late messages (a slow link's queue) do not keep a leader in place: leader-clock.ts. Two
      // election timeouts of queueing beyond the fastest delivery (1 s at the defaults).
      clockMs: monoNowMs,
      staleAfterMs: 2 * this.tickMs * (t.electionTimeoutTicks ?? 10),
      // Keep app messages well under the peer frame limit (4 MiB).
      maxMsgBytes: 1 << 20,
      maxCommittedBytesPerReady: 4 << 20,
    });
    this.diskPolicy = new DiskPolicy({
      disk: d.disk, selfId: this.id, raw: this.raw, log: d.log, schedule: () => this.schedule(),
      ...(d.heardMs !== undefined ? { heardMs: d.heardMs } : {}),
    });
  }

  start(): void {
    this.timer = setInterval(() => this.onTick(), this.tickMs);
    // A lone voter (fresh bootstrap or 1-node shard) needs no election timeout.
    const st = this.raw.status();
    if (st.conf.voters.length === 1 && st.conf.voters[0] === this.id) this.raw.campaign();
    this.schedule();
  }

  // ---- inputs ------------------------------------------------------------------------------

  step(m: Message): void {
    try {
      if (this.stopped) return;
      if (this.diskPolicy.drops(m)) return;
      try {
        this.raw.step(m);
      } catch (err) {
        // The log could not be read (EIO, wal.ts): the node cannot go on (a review found this
        // logged and left, the node stopping only later by another path).
        if (err instanceof SeqError && err.code === ErrorCode.STORAGE) return this.fail(err);
        this.d.log(`step ${m.type} from ${m.from} failed: ${(err as Error).message}`);
        return;
      }
      this.schedule();
    } finally {
      // A received image the core did not take (stale, or already in our log) is let go of now.
      if (m.snapshot && this.raw.pendingSnapshot() !== m.snapshot) releaseSnapshot(m.snapshot);
    }
  }

  reportUnreachable(id: NodeId): void {
    if (!this.stopped) this.raw.reportUnreachable(id);
  }

  /** A peer closed its connection to us (see RawNode.leaderGone). */
  peerGone(id: NodeId): void {
    if (!this.stopped) this.raw.leaderGone(id);
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    if (this.stopped) return;
    this.raw.reportSnapshot(id, ok);
    this.schedule();
  }

  /** Executes a client command on the leader: writes through the log, reads through ReadIndex. */
  execute(command: Command): Promise<CommandResult> {
    const refusal = this.refusal();
    if (refusal) return Promise.resolve(refusal);
    const now = monoNowMs();
    if (command.type === 'get') {
      // A GET pipelined after a write must see it: propose waiting writes first.
      this.flushWrites();
      return new Promise((resolve) => {
        const lastIndex = this.raw.lastIndex; // an older term's proposals may have been cut from the log
        if (!this.reads.add(command, now, Math.min(this.lastProposedIndex, lastIndex), lastIndex, resolve)) return resolve(errorResult(ErrorCode.BUSY, 'too many pending reads'));
        this.schedule();
      });
    }
    const bytes = encodeCommand(command, this.d.stampMs?.(this.raw.voters) ?? Date.now());
    const diskRefusal = this.diskPolicy.refusal(command, bytes.length);
    if (diskRefusal) return Promise.resolve(diskRefusal);
    if (this.writesWaiting >= this.pendingMax) return Promise.resolve(errorResult(ErrorCode.BUSY, 'too many pending writes'));
    this.writesWaiting++;
    const done = (r: CommandResult): CommandResult => {
      this.writesWaiting--;
      return r;
    };
    if (command.type === 'inc' || command.type === 'incs' || command.type === 'set') {
      if (!this.batch.fits(bytes.length)) this.flushWrites();
      this.schedule();
      return new Promise<CommandResult>((resolve) => this.batch.add({ bytes, resolve })).then(done);
    }
    // Other writes keep their own entry, after the writes that arrived before them.
    this.flushWrites();
    return new Promise<CommandResult>((resolve) => this.proposeEntry(bytes, now, [{ bytes, resolve }])).then(done);
  }

  /** Proposes the batched writes (node/replication/write-batch.ts) as one entry. */
  private flushWrites(): void {
    if (this.batch.size === 0) return;
    const items = this.batch.take();
    const data = items.length === 1 ? items[0]!.bytes : encodeBatch(items.map((i) => i.bytes));
    this.proposeEntry(data, monoNowMs(), items);
  }

  private proposeEntry(data: Uint8Array, now: number, items: readonly BatchedWrite[]): void {
    let ticket;
    try {
      ticket = this.raw.propose(data);
    } catch (err) {
      distribute(items, this.proposeError(err));
      return;
    }
    this.lastProposedIndex = ticket.index;
    this.schedule();
    void this.proposals.wait(ticket, now).then((r) => distribute(items, r));
  }

  /** Proposes a membership change and resolves once it is applied (or fails). */
  async changeMembers(cc: Parameters<RawNode['proposeConfChange']>[0]): Promise<CommandResult> {
    const heardMs = this.d.heardMs;
    const live = heardMs === undefined ? null : { self: this.id, heardMs, windowMs: this.liveWindowMs, nowMs: monoNowMs() };
    const refusal = this.refusal() ?? (cc.type === 'remove' && live !== null ? removalRefusal(this.raw.status().conf.voters, cc.nodeId, live) : null);
    if (refusal) return refusal;
    let ticket;
    try {
      ticket = this.raw.proposeConfChange(cc);
    } catch (err) {
      return this.proposeError(err);
    }
    this.schedule();
    const r = await this.proposals.wait(ticket, monoNowMs());
    return Array.isArray(r) ? errorResult(ErrorCode.INTERNAL, 'a conf change got command results') : ((r as CommandResult | null) ?? { type: 'ok' });
  }

  transferLeadership(to: NodeId): void {
    this.raw.transferLeadership(to);
    this.schedule();
  }

  /** Replaces a damaged stored image with a new one (LocalSnapshots.repair). */
  repairSnapshot(): Promise<void> {
    const done = this.snapshots.repair();
    this.schedule();
    return done;
  }

  /** Takes a snapshot now (and compacts the log to it). */
  snapshotNow(): Promise<void> {
    const done = this.snapshots.request();
    this.schedule();
    return done;
  }

  status(): RaftStatus {
    return this.raw.status();
  }

  appliedIndex(): number {
    return this.applier.applied;
  }

  leaderAddress(): string | null {
    const lead = this.raw.status().leader;
    return lead ? (this.d.members.addressOf(lead) ?? null) : null;
  }

  notLeader(): CommandResult {
    return errorResult(ErrorCode.NOT_LEADER, `${this.d.shard} ${this.leaderAddress() ?? '?'}`);
  }

  /** Stops ticking and answering; waits for the Ready in flight to finish. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.looping) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.leaderWrites.drain();
    await this.applier.drain().catch(() => {});
    await this.snapshots.stop(new SeqError(ErrorCode.SHUTTING_DOWN, 'shutting down'));
    const bye = errorResult(ErrorCode.SHUTTING_DOWN, 'node is shutting down');
    this.proposals.failAll(errorResult(ErrorCode.OUTCOME_UNKNOWN, 'node shut down before the write was applied; retry only with the same ID token'));
    distribute(this.batch.take(), bye);
    this.reads.failAll(bye);
  }

  // ---- the loop ----------------------------------------------------------------------------

  private refusal(): CommandResult | null {
    if (this.failed) return errorResult(this.failed.code, this.failed.message);
    if (this.stopped) return errorResult(ErrorCode.SHUTTING_DOWN, 'node is shutting down');
    if (this.raw.role !== 'leader') return this.notLeader();
    return null;
  }

  /** A follower's word about its disk (disk-report.ts). */
  peerDisk(id: NodeId, low: boolean): void {
    this.diskPolicy.peerDisk(id, low);
  }

  /** INFO fields of the disk guard (none without one). */
  diskInfo(): Record<string, number> {
    return this.diskPolicy.info();
  }

  private proposeError(err: unknown): CommandResult {
    return proposeErrorResult(err, () => this.notLeader());
  }

  private onTick(): void {
    if (this.stopped) return;
    this.raw.tick();
    this.diskPolicy.onTick();
    const now = monoNowMs();
    this.proposals.expire(now);
    this.reads.expire(now, errorResult(ErrorCode.TRY_AGAIN, 'read timed out waiting for a quorum'));
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.runLoop();
    });
  }

  private async runLoop(): Promise<void> {
    if (this.looping || this.stopped || this.failed) return;
    this.looping = true;
    try {
      // Bounded so timers and sockets get their turn; the tail reschedules.
      for (let i = 0; i < 64 && !this.stopped; i++) {
        this.flushWrites();
        this.reads.issue(this.readIndex, this.notLeaderResult);
        if (this.raw.hasReady()) {
          const rd = this.raw.ready();
          if (writesInBackground(this.raw.role, rd, this.d.storage.hardState())) {
            await this.handleLeaderReady(rd);
            this.raw.advance({ entriesPending: true });
          } else {
            await this.leaderWrites.drain();
            await this.handleReady(rd);
            this.raw.advance();
          }
        } else if (!this.snapshots.wanted) {
          break;
        }
        this.afterAdvance();
        if (this.snapshots.due) await this.snapshots.maybeTake();
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.looping = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
    if (!this.stopped && (this.raw.hasReady() || this.batch.size > 0)) this.schedule();
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = new SeqError(ErrorCode.STORAGE, `replication stopped: ${err.message}`);
    this.d.log(`FATAL ${err.stack ?? err.message}`);
    if (this.timer) clearInterval(this.timer);
    this.proposals.failAll(errorResult(ErrorCode.OUTCOME_UNKNOWN, this.failed.message));
    distribute(this.batch.take(), errorResult(this.failed.code, this.failed.message));
    this.reads.failAll(errorResult(this.failed.code, this.failed.message));
    this.d.onFatal(err);
  }

  private async handleReady(rd: Ready): Promise<void> {
    const termDurable = !rd.hardState || rd.hardState.term === this.d.storage.hardState().term;
    // A new term (even one this node leads again) voids every pending read round (read-queue.ts).
    if ((rd.softState && rd.softState.role !== 'leader') || !termDurable) this.reads.failAll(this.notLeader());
    const early = termDurable && !rd.snapshot ? rd.messages.filter((m) => LEADER_MESSAGES.has(m.type)) : [];
    for (const m of early) this.d.send(m);
    // Committed entries already durable in our own log are applied while this Ready's log write
    // runs (two LMDB environments, two fsyncs in parallel); the rest after it.
    const firstNew = rd.entries[0]?.index ?? Number.POSITIVE_INFINITY;
    const durableLast = rd.snapshot ? 0 : Math.min(this.d.storage.lastIndex(), firstNew - 1);
    const [applyNow, applyLater] = splitCommitted(rd.committedEntries, durableLast);
    // A follower only waits for its log write: inline, no write-thread round trip (DESIGN.md).
    const inline = this.raw.role === 'follower';
    const persisted = rd.snapshot
      ? this.installSnapshot(rd)
      : this.d.storage.persist({ entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}), inline });
    const apply = this.mayHold() ? (es: readonly Entry[]) => this.applier.hold(es, this.applyHoldMs) : (es: readonly Entry[]) => this.applier.apply(es);
    await Promise.all([persisted, applyNow.length > 0 ? apply(applyNow) : null]);
    for (const m of rd.messages) if (!early.includes(m)) this.d.send(m);
    if (applyLater.length > 0) await apply(applyLater);
    this.reads.onReadStates(rd.readStates);
    this.serveReads();
  }

  /** A follower nobody here waits on (no write or read of its own pending) may apply late. */
  private mayHold(): boolean {
    return this.applyHoldMs > 0 && this.raw.role === 'follower' && this.proposals.size === 0 && this.reads.size === 0;
  }

  /**
   * Sends, starts the log write, applies what is committed (a quorum has it on disk, even if
   * this leader's own copy is still being written), and returns without waiting for the write.
   * A conf change is applied only from our own disk: a restart skips entries its state machine
   * applied beyond its log (apply-pipeline.ts), and the members must see every conf change.
   */
  private async handleLeaderReady(rd: Ready): Promise<void> {
    for (const m of rd.messages) this.d.send(m);
    // A hard state here only moves the commit index: kept in memory, written with the next entries.
    if (rd.hardState) await this.d.storage.persist({ entries: [], hardState: rd.hardState });
    if (rd.entries.length > 0) await this.leaderWrites.add(rd.entries);
    const ahead = rd.committedEntries.some((e) => e.type === EntryType.ConfChange && e.index > this.d.storage.lastIndex());
    if (ahead) await this.leaderWrites.drain();
    if (rd.committedEntries.length > 0) await this.applier.apply(rd.committedEntries);
    this.reads.onReadStates(rd.readStates);
    this.serveReads();
  }

  private async installSnapshot(rd: Ready): Promise<void> {
    const snap = rd.snapshot!;
    await this.applier.drain();
    // The raft storage keeps the image, so a crash between these two writes is repaired at startup.
    try {
      await this.d.storage.persist({ snapshot: snap, entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}) });
    } finally {
      releaseSnapshot(snap); // a spool file (snapshot-spool.ts): stored now, or failed
    }
    const bytes = snapshotBytes(snap);
    if (snap.meta.index <= this.applier.applied) {
      // The state already holds the image's entries and more: a leader applies ahead of its own
      // log, so after a crash its state can be beyond the log it restarted with, and a new
      // leader's snapshot may land in between. Only committed entries are ever applied, so the
      // state is the image plus the entries after it; importing the image would take it back
      // (the simulator's applied-monotonic check). The core re-delivers those entries and the
      // applier skips them, so a write still waiting on one would never hear (none can today: a
      // node's proposals are above its log); its outcome is unknown, as with an imported image.
      // The members need nothing: no conf change lies between (node/replication/DESIGN.md).
      this.proposals.coveredBySnapshot(this.applier.applied);
      this.snapshots.installed(bytes);
      this.d.log(`stored snapshot at index ${snap.meta.index} term ${snap.meta.term} (${bytes} bytes); the state, applied to ${this.applier.applied}, is kept`);
      return;
    }
    // Imported from the copy just stored, chunk by chunk, never held whole.
    await restoreStateFromSnapshot(this.d.store, this.d.members, this.d.storage);
    this.applier.resetTo(snap.meta.index);
    this.snapshots.installed(bytes);
    this.proposals.coveredBySnapshot(snap.meta.index);
    this.d.log(`installed snapshot at index ${snap.meta.index} term ${snap.meta.term} (${bytes} bytes)`);
  }

  /** Reads whose ReadIndex the durable state has reached. */
  private serveReads(): void {
    this.reads.serve(this.applier.applied, (cmds) => this.d.store.read((kv) => cmds.map((c) => read(kv, c))));
  }

  private afterAdvance(): void {
    if (this.raw.role === 'leader' && this.raw.hasLearners && promoteCaughtUpLearner(this.raw, this.raw.status(), this.d.log)) this.schedule();
  }
}
