/**
 * One simulated server: a RawNode driven by the contract's loop (persist -> send -> apply ->
 * advance), its "disk" (MemoryStorage plus the counter machine, which survive a crash) and
 * its in-memory proposal tickets (which do not). A crash may tear the next Ready at any stage.
 */
import { MemoryStorage } from '../../node/raft/memory-storage.ts';
import { RawNode } from '../../node/raft/raw-node.ts';
import type { ConfState, Entry, Message, NodeId, Ready, Role } from '../../node/raft/types.ts';
import type { Rng } from './rng.ts';
import type { CoreTuning, NodeContext, TornStage } from './sim-node-types.ts';
import { CounterMachine } from './state-machine.ts';
import { violation } from './violation.ts';

export { MUTANTS, TORN_STAGES, type CoreTuning, type Mutant, type NodeContext, type TornStage } from './sim-node-types.ts';

interface Ticket {
  readonly opId: number;
  readonly term: number;
}

/**
 * Readies per input: a catching-up follower with a tiny maxCommittedBytesPerReady needs one
 * per entry, so this only bounds a core that loops forever.
 */
const READIES_PER_EVENT_MAX = 50_000;

export class SimNode {
  /** The disk; replaced only by the lose-unsynced-tail mutant. */
  storage: MemoryStorage;
  readonly sm = new CounterMachine();
  raw: RawNode | null = null;
  role: Role | 'down' = 'down';
  leader: NodeId | null = null;
  incarnation = 0;
  torn: TornStage | null = null;
  /** Client ops this node accepted, by log index; lost on crash. */
  readonly tickets = new Map<number, Ticket>();
  /** ReadIndex requests by context; `index` is set once the ReadState arrives. Lost on crash. */
  private readonly reads = new Map<string, { readonly readId: number; readonly key: string; index: number | null }>();
  /** Commit index of the last persisted hard state, to see a leader's commit advance. */
  private commitSeen = 0;
  /** A leader's entry batches handed out but not on disk yet (asyncLeaderWrites); lost on crash. */
  private readonly writes: Entry[][] = [];
  private voters: { now: readonly NodeId[]; before: readonly NodeId[] } = { now: [], before: [] };
  /** First index of the last appended batch (for the lose-unsynced-tail mutant). */
  private lastBatchFrom = 0;
  /** Virtual ms between this node's ticks (clocks drift: 8..12 around the nominal 10). */
  readonly tickEveryMs: number;
  nextTickAt: number;
  /** A stop-the-world pause (GC, VM freeze): no ticks, incoming messages wait until then. */
  pausedUntil = 0;
  /** extra 'lazycommit': a commit index known but not written yet (lost on crash). */
  private memCommit = 0;

  constructor(
    readonly id: NodeId,
    bootstrap: ConfState,
    tickEveryMs: number,
    firstTickAt: number,
    private readonly tuning: CoreTuning,
    private readonly ctx: NodeContext,
  ) {
    this.storage = new MemoryStorage(bootstrap);
    this.tickEveryMs = tickEveryMs;
    this.nextTickAt = firstTickAt;
  }

  get up(): boolean {
    return this.raw !== null;
  }

  start(rng: Rng): void {
    if (this.ctx.mutant === 'forget-vote') {
      const hs = this.storage.initialState().hardState;
      this.storage.setHardState({ ...hs, vote: null });
    }
    if (this.ctx.extra.has('applyearly')) {
      // raft-node.ts: d.storage.raiseCommitTo(applier.applied) (in memory only).
      const hs0 = this.storage.initialState().hardState;
      const to = Math.min(this.sm.applied, this.storage.lastIndex());
      if (to > hs0.commit) {
        this.storage.setHardState({ ...hs0, commit: to });
        this.ctx.checker.onHardState(this.id, this.storage.initialState().hardState, this.storage);
      }
    }
    if (this.ctx.extra.has('midsnap') && this.sm.applied < this.storage.snapshotIndex()) {
      const snap = this.storage.snapshot();
      this.sm.restore(snap.data, snap.meta.index);
      this.ctx.trace(`${this.id} recover: state restored from stored snapshot ${snap.meta.index}`);
    }
    const coreRng = rng.fork();
    this.raw = new RawNode({
      id: this.id,
      rng: () => coreRng.next(),
      storage: this.storage,
      // A leader that applied ahead of its own log (asyncLeaderWrites) and crashed restarts with
      // a state machine beyond its log: the core starts lower, and re-delivered entries are skipped.
      applied: Math.min(this.sm.applied, this.storage.initialState().hardState.commit, this.storage.lastIndex()),
      maxMsgBytes: this.tuning.maxMsgBytes,
      maxInflightMsgs: this.tuning.maxInflightMsgs,
      maxUncommittedBytes: this.tuning.maxUncommittedBytes,
      maxCommittedBytesPerReady: this.tuning.maxCommittedBytesPerReady,
      electionTimeoutTicks: this.tuning.electionTimeoutTicks,
      heartbeatTicks: this.tuning.heartbeatTicks,
      // As raft-node.ts: two election timeouts of queueing beyond the fastest delivery.
      clockMs: () => this.ctx.nowMs(),
      staleAfterMs: 2 * this.tuning.electionTimeoutTicks * this.tickEveryMs,
      preVote: this.tuning.preVote,
      checkQuorum: this.tuning.checkQuorum,
    });
    this.incarnation++;
    this.memCommit = 0;
    this.role = 'follower';
    this.leader = null;
    this.torn = null;
    const hs = this.storage.initialState().hardState;
    this.ctx.trace(`${this.id} start #${this.incarnation} term=${hs.term} vote=${hs.vote} commit=${hs.commit} applied=${this.sm.applied} log=${this.storage.firstIndex()}..${this.storage.lastIndex()}`);
  }

  /** Loses everything not persisted: the core's memory, unsent messages, tickets. */
  crash(why: string): void {
    if (!this.raw) return;
    this.raw = null;
    this.role = 'down';
    this.leader = null;
    this.torn = null;
    for (const t of this.tickets.values()) this.ctx.lose(t.opId);
    this.tickets.clear();
    this.reads.clear();
    if (this.writes.length > 0) this.ctx.trace(`${this.id} lost ${this.writes.length} leader writes in flight`);
    this.writes.length = 0;
    this.ctx.trace(`${this.id} CRASH (${why})`);
    if (this.ctx.mutant === 'lose-unsynced-tail') this.loseTail();
  }

  /** Mutant: the last appended batch (above commit) was acknowledged but never reached the disk. */
  private loseTail(): void {
    const old = this.storage;
    const hs = old.initialState().hardState;
    const keep = Math.max(hs.commit, this.lastBatchFrom - 1, old.firstIndex() - 1);
    if (keep >= old.lastIndex()) return;
    const snap = old.snapshot();
    const disk = new MemoryStorage(snap.meta.conf);
    if (snap.meta.index > 0) disk.applySnapshot(snap);
    if (keep >= old.firstIndex()) disk.append(old.entries(old.firstIndex(), keep + 1, Number.MAX_SAFE_INTEGER));
    disk.setHardState(hs);
    this.storage = disk;
    this.ctx.trace(`${this.id} MUTANT lost entries ${keep + 1}..${old.lastIndex()}`);
  }

  /** Handles Readies until none is left or a torn crash hits. */
  drain(): void {
    for (let n = 0; this.raw && this.raw.hasReady(); n++) {
      if (n >= READIES_PER_EVENT_MAX) violation('ready-loop', `${this.id}: ${n} Readies for one input`);
      this.handle(this.raw, this.raw.ready());
    }
  }

  private handle(raw: RawNode, rd: Ready): void {
    if (this.ctx.asyncLeaderWrites) this.noteVoters(raw);
    const async = this.writesAsync(raw, rd);
    // A Ready that must be durable before it acts waits for the writes in flight (they are in order).
    if (!async) this.flushWrites(raw);
    else return this.handleAsync(raw, rd);
    const torn = this.torn;
    // extra 'early' (raft-node.ts handleReady): leader messages go out before the persist when
    // the Ready's term is already on disk and it carries no snapshot.
    const storedTerm = this.storage.initialState().hardState.term;
    const termDurable = !rd.hardState || rd.hardState.term === storedTerm;
    const early = this.ctx.extra.has('early') && termDurable && !rd.snapshot ? rd.messages.filter((m) => EARLY.has(m.type)) : [];
    if (early.length > 0) this.sendAll(early);
    // extra 'applyearly' (raft-node.ts handleReady splitCommitted): committed entries already in
    // our own durable log are applied while the persist runs.
    let appliedEarly = 0;
    if (this.ctx.extra.has('applyearly') && !rd.snapshot) {
      const firstNew = rd.entries[0]?.index ?? Number.POSITIVE_INFINITY;
      const durableLast = Math.min(this.storage.lastIndex(), firstNew - 1);
      for (const e of rd.committedEntries) {
        if (e.index > durableLast) break;
        this.applyOne(e, true);
        appliedEarly++;
      }
    }
    if (torn === 'beforePersist') return this.crash(`torn before persist (${early.length} sent early, ${appliedEarly} applied early)`);
    if (rd.snapshot && this.ctx.extra.has('midsnap') && this.ctx.chance(0.25)) {
      // lmdb-raft-storage.ts: the received snapshot is stored (LMDB) before the log restarts after
      // it and the hard state is written (WAL); a crash in between. The log is reconciled at open
      // (raft-log-open.ts reconcileWithSnapshot), the state rebuilt (replica-node.ts recoverLocalState).
      const s = rd.snapshot;
      const hs = this.storage.initialState().hardState;
      const keep = this.storage.lastIndex() > s.meta.index && this.storage.firstIndex() <= s.meta.index && this.storage.term(s.meta.index) === s.meta.term
        ? this.storage.entries(s.meta.index + 1, this.storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER) : [];
      this.storage.applySnapshot(s);
      if (keep.length > 0) this.storage.append(keep);
      this.storage.setHardState({ ...hs, commit: Math.max(hs.commit, 0) });
      return this.crash(`torn mid snapshot install at ${s.meta.index} (kept ${keep.length} log entries, hard state t${hs.term} c${hs.commit})`);
    }
    if (this.ctx.extra.has('slowdisk')) {
      // raft-node.ts: the persist is awaited; meanwhile the core is stepped, ticked and proposed
      // to (no new Ready until this one is advanced). A crash meanwhile loses the whole write.
      const incarnation = this.incarnation;
      this.ctx.writeLater(() => {
        if (incarnation !== this.incarnation || !this.raw) return;
        this.finishSync(raw, rd, early, appliedEarly);
        this.drain();
      });
      return;
    }
    this.finishSync(raw, rd, early, appliedEarly);
  }

  private finishSync(raw: RawNode, rd: Ready, early: readonly Message[], appliedEarly: number): void {
    const torn = this.torn;
    if (torn === 'beforePersist') return this.crash('torn before persist (slow disk)');
    if (this.ctx.mutant === 'send-before-persist') this.sendAll(rd.messages);
    this.persist(rd);
    if (rd.softState) this.onSoftState(raw, rd);
    for (const rs of rd.readStates) {
      const w = this.reads.get(rs.context);
      if (w) w.index = rs.index;
    }
    if (torn === 'afterPersist') return this.crash('torn after persist');
    const advanced = rd.hardState !== undefined && this.role === 'leader' && rd.hardState.commit > this.commitSeen;
    if (rd.hardState) this.commitSeen = rd.hardState.commit;
    if (advanced && this.ctx.leaderCommitted(this.id)) return this.crash('leader churn: died right after committing');
    if (this.ctx.mutant !== 'send-before-persist') {
      const rest = rd.messages.filter((m) => !early.includes(m));
      const cut = torn === 'midSend' ? Math.floor(rest.length / 2) : rest.length;
      this.sendAll(rest.slice(0, cut));
      if (torn === 'midSend') return this.crash(`torn after sending ${cut}/${rest.length}`);
    }
    const cut = torn === 'midApply' ? Math.floor(rd.committedEntries.length / 2) : rd.committedEntries.length;
    for (let i = appliedEarly; i < cut; i++) this.applyOne(rd.committedEntries[i]!, this.ctx.extra.has('lazycommit'));
    if (torn === 'midApply') return this.crash(`torn after applying ${cut}/${rd.committedEntries.length}`);
    raw.advance();
    this.serveReads();
    this.maybeCompact(raw);
  }

  /** A leader's Ready whose term and vote are already on disk: its entries may be written later. */
  private writesAsync(raw: RawNode, rd: Ready): boolean {
    if (!this.ctx.asyncLeaderWrites || this.torn !== null || rd.snapshot || raw.role !== 'leader') return false;
    const hs = this.storage.initialState().hardState;
    return rd.hardState === undefined || (rd.hardState.term === hs.term && rd.hardState.vote === hs.vote);
  }

  private handleAsync(raw: RawNode, rd: Ready): void {
    if (rd.hardState && this.ctx.extra.has('lazycommit')) {
      this.memCommit = Math.max(this.memCommit, rd.hardState.commit);
    } else if (rd.hardState) {
      // Only the commit moved; on disk it never passes the entries on disk.
      const stored = this.storage.initialState().hardState.commit;
      const hs = { ...rd.hardState, commit: Math.max(stored, Math.min(rd.hardState.commit, this.storage.lastIndex())) };
      this.storage.setHardState(hs);
      this.ctx.checker.onHardState(this.id, hs, this.storage);
    }
    if (rd.softState) this.onSoftState(raw, rd);
    for (const rs of rd.readStates) {
      const w = this.reads.get(rs.context);
      if (w) w.index = rs.index;
    }
    const advanced = rd.hardState !== undefined && rd.hardState.commit > this.commitSeen;
    if (rd.hardState) this.commitSeen = rd.hardState.commit;
    if (advanced && this.ctx.leaderCommitted(this.id)) return this.crash('leader churn: died right after committing');
    this.sendAll(rd.messages);
    // As the driver does: a conf change is applied only from our own disk.
    if (rd.committedEntries.some((e) => e.type !== 0 && e.index > this.storage.lastIndex())) this.flushWrites(raw);
    for (const e of rd.committedEntries) {
      if (e.index > this.storage.lastIndex() && !this.onQuorumDisk(e)) {
        violation('apply-not-durable', `${this.id}: applied ${e.index}/t${e.term} ahead of its own log, on disk on fewer than a quorum of ${this.voters.now} (before: ${this.voters.before})`);
      }
      this.applyOne(e, true);
    }
    raw.advance({ entriesPending: true });
    const last = rd.entries[rd.entries.length - 1];
    // Mutant (with asyncLeaderWrites): the leader counts its own copy before it is on disk.
    if (last !== undefined && this.ctx.mutant === 'count-unwritten') raw.appended(last.index, last.term);
    if (rd.entries.length > 0) {
      this.writes.push([...rd.entries]);
      const incarnation = this.incarnation;
      this.ctx.writeLater(() => this.completeWrite(incarnation));
    }
    this.serveReads();
    this.maybeCompact(raw);
  }

  /**
   * On the disks of a quorum of the configuration that committed it: the applied one, or the one
   * before the last conf change (the commit may have been counted just before that change applied;
   * one conf change at a time, so no older configuration can have counted it).
   */
  private onQuorumDisk(e: Entry): boolean {
    const { now, before } = this.voters;
    const quorumOf = (voters: readonly NodeId[]) => this.ctx.durableCopies(e.index, e.term, voters) > voters.length / 2;
    return quorumOf(now) || (before.length > 0 && quorumOf(before));
  }

  /** Tracks the last two applied voter sets (see onQuorumDisk). */
  private noteVoters(raw: RawNode): void {
    const now = raw.status().conf.voters;
    if (now.join() === this.voters.now.join()) return;
    this.voters = { now, before: this.voters.now };
  }

  /** The oldest write in flight reached the disk (writes finish in order, whichever timer fires). */
  private completeWrite(incarnation: number): void {
    if (incarnation !== this.incarnation || !this.raw || this.writes.length === 0) return;
    this.writeOne(this.raw);
    this.drain();
  }

  private flushWrites(raw: RawNode): void {
    while (this.writes.length > 0) this.writeOne(raw);
  }

  private writeOne(raw: RawNode): void {
    const batch = this.writes.shift()!;
    this.lastBatchFrom = batch[0]!.index;
    this.ctx.checker.beforeAppend(this.id, this.storage, batch);
    this.storage.append(batch);
    this.ctx.checker.afterAppend(this.id, this.storage, batch);
    const last = batch[batch.length - 1]!;
    // The commit learned meanwhile is written with the entries (the driver's clamped hard state).
    const hs = this.storage.initialState().hardState;
    const commit = Math.min(raw.status().commit, this.storage.lastIndex());
    if (commit > hs.commit && raw.status().term === hs.term) {
      this.storage.setHardState({ ...hs, commit });
      this.ctx.checker.onHardState(this.id, this.storage.initialState().hardState, this.storage);
    }
    this.ctx.trace(`${this.id} wrote +${batch[0]!.index}..${last.index}/t${last.term}`);
    raw.appended(last.index, last.term);
  }

  /** Serves every read whose ReadState index is applied (§6.4). */
  private serveReads(): void {
    for (const [ctx, w] of this.reads) {
      if (w.index === null || this.sm.applied < w.index) continue;
      this.reads.delete(ctx);
      this.ctx.trace(`${this.id} read r${w.readId} ${w.key}=${this.sm.counters.get(w.key) ?? 0} (read index ${w.index}, applied ${this.sm.applied})`);
      this.ctx.readDone(w.readId, this.sm.counters.get(w.key) ?? 0);
    }
  }

  /** Starts a ReadIndex read; returns the refusal code when the core refuses. */
  read(readId: number, key: string): string | null {
    const raw = this.raw;
    if (!raw) return 'DOWN';
    const context = `r${readId}`;
    if (this.ctx.mutant === 'local-read') {
      // Mutant: serve from local state at once, skipping ReadIndex (stale on a deposed leader).
      this.ctx.readDone(readId, this.sm.counters.get(key) ?? 0);
      return null;
    }
    try {
      raw.readIndex(context);
    } catch (err) {
      return raftCode(err, READ_CODES);
    }
    this.reads.set(context, { readId, key, index: null });
    return null;
  }

  private persist(rd: Ready): void {
    const { checker } = this.ctx;
    if (rd.snapshot) {
      const s = rd.snapshot;
      const before = this.sm.applied;
      const image = new CounterMachine();
      image.restore(s.data, s.meta.index);
      // raft-node.ts installSnapshot: a state already at or past the image is kept.
      const kept = s.meta.index <= before;
      checker.onSnapshot(this.id, s, before, image.counters, kept);
      this.storage.applySnapshot(s);
      if (!kept) this.sm.restore(s.data, s.meta.index);
      else this.ctx.trace(`${this.id} snapshot ${s.meta.index} behind its state at ${before}: stored, state kept`);
      for (const [index, t] of this.tickets) {
        if (index <= s.meta.index) (this.ctx.lose(t.opId), this.tickets.delete(index));
      }
      this.ctx.installed();
      this.ctx.trace(`${this.id} install snapshot ${s.meta.index}/t${s.meta.term} voters=${s.meta.conf.voters} learners=${s.meta.conf.learners}`);
    }
    if (rd.entries.length > 0) {
      this.lastBatchFrom = rd.entries[0]!.index;
      checker.beforeAppend(this.id, this.storage, rd.entries);
      this.storage.append(rd.entries);
      checker.afterAppend(this.id, this.storage, rd.entries);
    }
    const lazy = this.ctx.extra.has('lazycommit');
    const stored0 = this.storage.initialState().hardState;
    if (lazy && rd.hardState && !rd.snapshot && rd.entries.length === 0 && rd.hardState.term === stored0.term && rd.hardState.vote === stored0.vote) {
      // lmdb-raft-storage.ts persist: a commit-only hard state is kept in memory, written with the next write.
      this.memCommit = Math.max(this.memCommit, rd.hardState.commit);
    } else if (lazy && this.ctx.mutant !== 'skip-hardstate' && (rd.hardState || ((rd.entries.length > 0 || rd.snapshot) && this.memCommit > stored0.commit))) {
      const base = rd.hardState ?? stored0;
      if (rd.hardState) this.memCommit = Math.max(this.memCommit, rd.hardState.commit);
      const commit = Math.min(Math.max(base.commit, stored0.commit, base.term === stored0.term ? this.memCommit : 0), this.storage.lastIndex());
      const hs = { ...base, commit: Math.max(commit, stored0.commit) };
      this.storage.setHardState(hs);
      checker.onHardState(this.id, hs, this.storage);
    } else if (rd.hardState && this.ctx.mutant !== 'skip-hardstate') {
      // A background write may have stored a newer commit than this Ready's (writeOne).
      const stored = this.storage.initialState().hardState.commit;
      const hs = stored > rd.hardState.commit ? { ...rd.hardState, commit: stored } : rd.hardState;
      this.storage.setHardState(hs);
      checker.onHardState(this.id, hs, this.storage);
    }
    if (rd.entries.length > 0 || rd.hardState) {
      const hs = this.storage.initialState().hardState;
      const e = rd.entries;
      const span = e.length > 0 ? ` +${e[0]!.index}..${e[e.length - 1]!.index}/t${e[e.length - 1]!.term}` : '';
      this.ctx.trace(`${this.id} persist term=${hs.term} vote=${hs.vote} commit=${hs.commit}${span}`);
    }
  }

  private onSoftState(raw: RawNode, rd: Ready): void {
    const ss = rd.softState!;
    const was = this.role;
    this.role = ss.role;
    this.leader = ss.leader;
    if (ss.role === was) return;
    // The Ready's term (just persisted): the core may have moved on while a slow persist ran.
    const term = this.ctx.extra.has('slowdisk') ? this.storage.initialState().hardState.term : raw.status().term;
    this.ctx.trace(`${this.id} becomes ${ss.role} term=${term}`);
    if (ss.role === 'leader') {
      this.ctx.checker.onLeader(this.id, term, this.storage);
      this.ctx.becameLeader(this.id);
    }
  }

  private sendAll(msgs: readonly Message[]): void {
    for (const m of msgs) {
      this.ctx.checker.onSend(this.id, m, this.storage);
      this.ctx.send(this.id, m);
    }
  }

  private applyOne(e: Ready['committedEntries'][number], quorumDurable = false): void {
    const before = this.sm.applied;
    if (e.index <= before) {
      // Applied before a crash that lost this leader's own copy (asyncLeaderWrites).
      this.ctx.checker.onReapply(this.id, e);
      return;
    }
    const result = this.sm.apply(e);
    this.ctx.checker.onApply(this.id, e, before, result, quorumDurable);
    const t = this.tickets.get(e.index);
    if (t === undefined) return;
    this.tickets.delete(e.index);
    if (t.term !== e.term) return this.ctx.resolve(t.opId, 'fail');
    if (!result || result.opId !== t.opId) {
      violation('ticket-mismatch', `${this.id}: ticket ${e.index}/t${t.term} for op ${t.opId} but the entry there is op ${result?.opId ?? 'none'}`);
    }
    this.ctx.resolve(t.opId, 'ok', result.value);
  }

  private maybeCompact(raw: RawNode): void {
    const applied = this.sm.applied;
    // Not while applied ahead of its own log or of the core (entries re-delivered after a restart).
    if (applied > this.storage.lastIndex() || applied > raw.status().applied) return;
    const snapAt = this.storage.snapshot().meta.index;
    if (applied - snapAt < this.tuning.compactEvery) return;
    const conf = raw.status().conf;
    this.storage.createSnapshot(applied, conf, this.sm.encode());
    const upTo = Math.max(this.storage.firstIndex() - 1, applied - this.tuning.compactKeep);
    this.storage.compact(upTo);
    this.ctx.trace(`${this.id} snapshot at ${applied}, compact to ${upTo}`);
  }

  /** Hands a client op to this node's core; returns false with the error code when refused. */
  propose(opId: number, data: Uint8Array): { ok: true; index: number } | { ok: false; code: string } {
    const raw = this.raw;
    if (!raw) return { ok: false, code: 'DOWN' };
    try {
      const t = raw.propose(data);
      // A ticket from an earlier term at this index: that entry left our log, but another
      // node may still hold it and commit it later, so its fate is unknown to us.
      const old = this.tickets.get(t.index);
      if (old !== undefined) this.ctx.lose(old.opId);
      this.tickets.set(t.index, { opId, term: t.term });
      return { ok: true, index: t.index };
    } catch (err) {
      return { ok: false, code: raftCode(err) };
    }
  }
}

/** raft-node.ts LEADER_MESSAGES. */
const EARLY: ReadonlySet<string> = new Set(['app', 'heartbeat', 'snap', 'timeoutNow']);

const PROPOSE_CODES = new Set(['NOT_LEADER', 'TRANSFERRING', 'UNCOMMITTED_FULL', 'TOO_LARGE']);
const READ_CODES = new Set(['NOT_LEADER', 'NOT_READY']);

/** A documented RaftError code, or a violation: the core must not throw anything else. */
export function raftCode(err: unknown, allowed: ReadonlySet<string> = PROPOSE_CODES): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && allowed.has(code)) return code;
  return violation('core-threw', `unexpected error: ${(err as Error)?.stack ?? String(err)}`);
}
