/**
 * The deterministic Raft simulator: a cluster of SimNodes on a virtual millisecond clock, one
 * seeded Rng for every choice. A fault phase (faults.ts, membership.ts, client load) is
 * followed by a heal phase that must reach a leader, answer every pending op and converge;
 * then the client history must be linearizable. Safety checks run inside the drivers.
 */
import { decodeConfChange } from '../../node/raft/conf-change-codec.ts';
import { applyConfChange } from '../../node/raft/conf-change.ts';
import { EntryType, type ConfState, type Entry, type Message, type NodeId } from '../../node/raft/types.ts';
import { Client, KEYS } from './client.ts';
import { injectFault, onNewLeader } from './faults.ts';
import { checkIncHistory, type IncOp } from './history.ts';
import { SafetyChecker } from './invariants.ts';
import { operate } from './membership.ts';
import { CALM, Network, type LinkFaults } from './network.ts';
import { Rng } from './rng.ts';
import { drawTuning, emptyStats, type SimOptions, type SimResult, type SimStats } from './sim-config.ts';
import { SimNode, type CoreTuning, type Mutant } from './sim-node.ts';
import { Trace } from './trace.ts';
import { SimViolation, violation } from './violation.ts';
import { formatMessage } from './format.ts';
import { MemoryStorage } from '../../node/raft/memory-storage.ts';

function cloneStorage(st: MemoryStorage): MemoryStorage {
  const snap = st.snapshot();
  const disk = new MemoryStorage(snap.meta.conf);
  if (snap.meta.index > 0) disk.applySnapshot(snap);
  if (st.lastIndex() >= st.firstIndex()) disk.append(st.entries(st.firstIndex(), st.lastIndex() + 1, Number.MAX_SAFE_INTEGER));
  disk.setHardState(st.initialState().hardState);
  return disk;
}

export const TICK_MS = 10;
/** After healing, a leader, answers to all pending ops and convergence must come within this. */
export const LIVENESS_MS = 6000;
/** An async leader write (asyncLeaderWrites) reaches the disk within this many virtual ms. */
const WRITE_DELAY_MS_MAX = 12;
/** While converging, a new probe INC goes out at least this often. */
const PROBE_RETRY_MS = 200;

export class Simulation {
  readonly rng: Rng;
  readonly net: Network;
  readonly checker = new SafetyChecker();
  readonly trace: Trace;
  readonly client: Client;
  readonly nodes = new Map<NodeId, SimNode>();
  /** Nodes stopped for good after their removal committed; ids are never reused. */
  readonly retired = new Set<NodeId>();
  /** Fresh servers started whose addLearner has not committed yet. */
  readonly joining = new Set<NodeId>();
  readonly tuning: CoreTuning;
  readonly baseline: LinkFaults;
  readonly initialVoters: number;
  readonly mutant: Mutant;
  readonly asyncLeaderWrites: boolean;
  readonly extra: ReadonlySet<string>;
  /** extra 'rollback': an older copy of each node's disk (storage + state machine). */
  readonly oldDisks = new Map<NodeId, { storage: MemoryStorage; sm: string; at: number }>();
  /** Membership as of the committed (globally applied) log. */
  committedConf: ConfState;
  now = 0;
  healing = false;
  /** Until then every new leader is cut down soon after election (leader churn, Figure 8). */
  churnUntil = 0;
  /** Bumped by every partition change so stale scheduled heals do nothing. */
  partitionGen = 0;
  /** Bumped by every lossy spell, likewise. */
  lossGen = 0;
  nextFreshId: number;
  readonly stats: SimStats = emptyStats();
  /** `disk`: a background write finishing, which a heal does not cancel (the disk still finishes it). */
  private readonly scheduled: { at: number; seq: number; run: () => void; disk?: boolean }[] = [];
  private scheduleSeq = 0;
  private readonly faultPhaseMs: number;

  constructor(opts: SimOptions) {
    this.rng = new Rng(opts.seed);
    this.trace = new Trace(opts.traceLines ?? 50, opts.keepTrace ?? false);
    this.net = new Network(this.rng.fork());
    this.client = new Client(this.rng.fork(), (l) => this.log(l));
    this.mutant = opts.mutant ?? 'none';
    this.asyncLeaderWrites = opts.asyncLeaderWrites ?? false;
    this.extra = opts.extra ?? new Set();
    this.checker.relaxMsgCheck = this.extra.has('slowdisk');
    this.initialVoters = opts.nodes ?? 3;
    this.faultPhaseMs = opts.faultPhaseMs ?? 10_000;
    const drawn = { ...drawTuning(this.rng), ...opts.tuning };
    // extra 'skew': a 3x fast clock with a 5-tick election timeout times out below one RTT + fsync.
    this.tuning = opts.extra?.has('skew') ? { ...drawn, electionTimeoutTicks: Math.max(10, drawn.electionTimeoutTicks) } : drawn;
    this.baseline = { dropP: this.rng.next() * 0.02, dupP: this.rng.next() * 0.02, slowP: this.rng.next() * 0.03 };
    this.net.faults = this.baseline;
    if (this.extra.has('stale')) this.net.staleP = this.extra.has('verystale') ? 0.02 : 0.003;
    const voters = Array.from({ length: this.initialVoters }, (_, i) => `n${i + 1}`);
    this.committedConf = { voters, learners: [] };
    this.nextFreshId = this.initialVoters + 1;
    this.checker.onNewApplied = (e) => this.onCommittedEntry(e);
    this.log(`seed ${opts.seed} voters=${voters} tuning=${JSON.stringify(this.tuning)}`);
    for (const id of voters) this.addNode(id).start(this.rng);
  }

  log(line: string): void {
    this.trace.record(this.now, line);
  }

  schedule(delayMs: number, run: () => void, disk = false): void {
    this.scheduled.push({ at: this.now + Math.max(1, delayMs), seq: this.scheduleSeq++, run, ...(disk ? { disk } : {}) });
  }

  /**
   * A node with an empty disk. Initial voters know the bootstrap membership; a joiner knows
   * nothing and must learn it from the leader (conf entries replayed from index 1, or a snapshot).
   */
  addNode(id: NodeId): SimNode {
    const initial = Array.from({ length: this.initialVoters }, (_, i) => `n${i + 1}`);
    const bootstrap: ConfState = { voters: initial.includes(id) ? initial : [], learners: [] };
    let every = this.rng.range(TICK_MS - 2, TICK_MS + 2);
    if (this.extra.has('skew')) {
      // A node whose clock runs 3x fast or 3x slow (a VM with a broken clocksource, CPU starvation).
      const r = this.rng.next();
      if (r < 0.25) every = this.rng.range(3, 4);
      else if (r < 0.4) every = this.rng.range(28, 32);
      if (every !== TICK_MS) this.log(`${id} ticks every ${every}ms`);
    }
    const node = new SimNode(id, bootstrap, every, this.now + this.rng.range(1, every), this.tuning, {
      checker: this.checker,
      mutant: this.mutant,
      trace: (l) => this.log(l),
      send: (from, m) => this.send(from, m),
      resolve: (opId, outcome, value) => this.client.resolve(this.now, opId, outcome, value),
      lose: (opId) => this.client.lose(opId),
      installed: () => this.stats.snapshots++,
      readDone: (readId, value) => this.client.readDone(this.now, readId, value),
      becameLeader: (leaderId) => onNewLeader(this, leaderId),
      leaderCommitted: (leaderId) => this.churnAfterCommit(leaderId),
      asyncLeaderWrites: this.asyncLeaderWrites,
      extra: this.extra,
      chance: (p) => this.rng.chance(p),
      writeLater: (done) => {
        // extra 'fsyncstall': now and then an fsync stalls for a long time (a busy disk, a journal commit).
        const stall = this.extra.has('fsyncstall') && this.rng.chance(0.04);
        this.schedule(stall ? this.rng.range(50, 400) : this.rng.range(0, WRITE_DELAY_MS_MAX), done, true);
      },
      durableCopies: (index, term, voters) => this.durableCopies(index, term, voters),
      nowMs: () => this.now,
    });
    this.nodes.set(id, node);
    return node;
  }

  /** How many of `voters` hold (index, term) on disk; an index compacted away counts (it was committed). */
  durableCopies(index: number, term: number, voters: readonly NodeId[]): number {
    let n = 0;
    for (const v of voters) {
      const st = this.nodes.get(v)?.storage;
      if (st === undefined) continue;
      if (index < st.firstIndex() - 1) n++;
      else if (index <= st.lastIndex() && st.term(index) === term) n++;
    }
    return n;
  }

  isMember(id: NodeId): boolean {
    return this.committedConf.voters.includes(id) || this.committedConf.learners.includes(id);
  }

  /** The live, running (not paused) leader with the highest term, if any. */
  leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const n of this.nodes.values()) {
      if (n.role !== 'leader' || !n.up || n.pausedUntil > this.now) continue;
      if (!best || termOf(n) > termOf(best)) best = n;
    }
    return best;
  }

  upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  /** Up and not paused: can take a client call. */
  activeNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up && n.pausedUntil <= this.now);
  }

  restart(n: SimNode): void {
    if (n.up || this.retired.has(n.id)) return;
    if (this.extra.has('rollback') && !this.healing) {
      const old = this.oldDisks.get(n.id);
      if (old && this.rng.chance(0.2)) {
        n.storage = old.storage;
        n.sm.restore(new TextEncoder().encode(old.sm), (JSON.parse(old.sm) as { applied: number }).applied);
        this.checker.rollback(n.id, n.storage.initialState().hardState, n.sm.applied);
        this.log(`${n.id} ROLLBACK: restarts with its disk as of ${old.at}ms`);
        this.oldDisks.delete(n.id);
      } else if (this.rng.chance(0.5)) {
        this.oldDisks.set(n.id, { storage: cloneStorage(n.storage), sm: new TextDecoder().decode(n.sm.encode()), at: this.now });
      }
    }
    n.start(this.rng);
    n.drain();
  }

  crash(n: SimNode, why: string): void {
    if (!n.up) return;
    this.stats.crashes++;
    n.crash(why);
    if (this.extra.has('gone')) this.connectionsClosed(n.id);
  }

  /** extra 'gone': peers see the TCP connections of `id` close a few ms later (raft-node.ts peerGone). */
  connectionsClosed(id: NodeId): void {
    this.schedule(this.rng.range(1, 5), () => {
      for (const p of this.nodes.values()) {
        if (p.id === id || !p.raw || p.pausedUntil > this.now) continue;
        p.raw.leaderGone(id);
        p.drain();
      }
    });
  }

  private onCommittedEntry(e: Entry): void {
    if (e.type !== EntryType.ConfChange) return;
    const cc = decodeConfChange(e.data);
    this.committedConf = applyConfChange(this.committedConf, cc);
    this.stats.confChanges++;
    this.log(`committed conf change ${cc.type} ${cc.nodeId} at ${e.index}: voters=${this.committedConf.voters} learners=${this.committedConf.learners}`);
    if (cc.type === 'addLearner') this.joining.delete(cc.nodeId);
    if (cc.type === 'remove') {
      const gone = this.nodes.get(cc.nodeId);
      // A removed server keeps running a while (it may not even know), then stops for good.
      // extra 'zombie': a removed server is never stopped (nobody told its operator).
      if (gone && !this.extra.has('zombie')) this.schedule(this.rng.range(0, 800), () => this.retire(gone));
      else if (gone) {
        // Its pending proposals time out in the real driver (proposalTimeoutMs): outcome unknown.
        for (const t of gone.tickets.values()) this.client.lose(t.opId);
        gone.tickets.clear();
      }
    }
  }

  /** During leader churn a leader may die right after persisting a commit advance. */
  private churnAfterCommit(id: NodeId): boolean {
    if (this.healing || this.now >= this.churnUntil || !this.rng.chance(0.3)) return false;
    this.stats.crashes++;
    const n = this.nodes.get(id)!;
    this.schedule(this.rng.range(5, 300), () => {
      if (!this.healing) this.restart(n);
    });
    return true;
  }

  private retire(n: SimNode): void {
    if (this.retired.has(n.id)) return;
    n.crash('retired after removal');
    this.retired.add(n.id);
  }

  private send(from: NodeId, m: Message): void {
    if (m.from !== from) violation('message-origin', `${from} sent a message from ${m.from}`);
    this.stats.messages++;
    const sent = this.net.send(m, this.now);
    if (!sent) this.log(`lost ${formatMessage(m)}`);
    if (m.type === 'snap' && this.extra.has('snapsent')) {
      // transport.ts onSnapshotSent: reported once written to the socket, not once installed.
      this.schedule(this.rng.range(0, 3), () => this.report(m.from, (raw) => raw.reportSnapshot(m.to, sent)));
    }
  }

  private deliver(m: Message): void {
    const to = this.nodes.get(m.to);
    if (!to || !to.raw || this.net.isBlocked(m.from, m.to)) {
      this.log(`drop ${formatMessage(m)}`);
      this.afterDrop(m);
      return;
    }
    if (to.pausedUntil > this.now) {
      this.net.hold(m, to.pausedUntil);
      return;
    }
    this.log(formatMessage(m));
    to.raw.step(m);
    to.drain();
    if (m.type === 'snap' && !this.extra.has('snapsent')) this.report(m.from, (raw) => raw.reportSnapshot(m.to, true));
  }

  private afterDrop(m: Message): void {
    if (m.type === 'snap' && !this.extra.has('snapsent')) this.report(m.from, (raw) => raw.reportSnapshot(m.to, false));
    else if (m.type === 'app' && this.rng.chance(0.3)) this.report(m.from, (raw) => raw.reportUnreachable(m.to));
  }

  private report(id: NodeId, call: (raw: NonNullable<SimNode['raw']>) => void): void {
    const n = this.nodes.get(id);
    if (!n?.raw || n.pausedUntil > this.now) return;
    call(n.raw);
    n.drain();
  }

  /** One virtual millisecond: scheduled actions, due messages, ticks. */
  private stepCore(): void {
    for (let i = 0; i < this.scheduled.length; ) {
      const s = this.scheduled[i]!;
      if (s.at > this.now) {
        i++;
        continue;
      }
      this.scheduled.splice(i, 1);
      s.run();
    }
    for (let m = this.net.pop(this.now); m; m = this.net.pop(this.now)) this.deliver(m);
    for (const n of this.nodes.values()) {
      if (n.nextTickAt > this.now) continue;
      n.nextTickAt = this.now + n.tickEveryMs;
      if (!n.raw || n.pausedUntil > this.now) continue;
      n.raw.tick();
      n.drain();
    }
  }

  run(): SimResult {
    try {
      this.faultPhase();
      this.healPhase();
      return this.result(null);
    } catch (err) {
      if (err instanceof SimViolation) return this.result(err);
      return this.result(new SimViolation('core-threw', (err as Error)?.stack ?? String(err)));
    }
  }

  private faultPhase(): void {
    let nextFault = this.rng.range(200, 500);
    let nextOperator = this.rng.range(200, 600);
    const clientRate = 0.05 + this.rng.next() * 0.15;
    for (; this.now < this.faultPhaseMs; this.now++) {
      this.stepCore();
      if (this.rng.chance(clientRate)) this.invokeClient();
      this.client.expire(this.now);
      if (this.now >= nextFault) {
        injectFault(this);
        nextFault = this.now + this.rng.range(60, 350);
      }
      if (this.now >= nextOperator) {
        operate(this);
        nextOperator = this.now + this.rng.range(100, 500);
      }
    }
  }

  private invokeClient(): void {
    const leader = this.leader();
    // Without a leader a real client mostly backs off; a few calls still probe followers.
    if (!leader && this.rng.chance(0.8)) return;
    const up = this.activeNodes();
    const target = leader && this.rng.chance(0.9) ? leader : up.length > 0 ? this.rng.pick(up) : null;
    if (!target) return;
    if (this.rng.chance(0.2)) this.client.read(this.now, target);
    else this.client.invoke(this.now, target);
  }

  /** Heal everything; the cluster must elect, answer every pending op and converge in time. */
  private healPhase(): void {
    this.healing = true;
    this.partitionGen++;
    const writes = this.scheduled.filter((s) => s.disk === true);
    this.scheduled.length = 0;
    this.scheduled.push(...writes);
    this.net.healLinks();
    this.net.faults = CALM;
    this.log('HEAL: links restored, faults off, members restarted');
    for (const n of this.nodes.values()) if (!this.isMember(n.id) && !this.joining.has(n.id) && !(this.extra.has('zombie') && n.up)) this.retire(n);
    const deadline = this.now + LIVENESS_MS;
    const probes: IncOp[] = [];
    for (; this.now < deadline; this.now++) {
      for (const n of this.nodes.values()) {
        n.torn = null;
        n.pausedUntil = 0;
        if (!n.up && this.isMember(n.id)) this.restart(n);
      }
      this.stepCore();
      this.client.expire(this.now, true);
      if (this.now % TICK_MS === 0 && this.converged(probes)) return this.finalChecks();
    }
    const l = this.leader();
    const tickets = [...this.nodes.values()].flatMap((n) => [...n.tickets].map(([i, t]) => `${n.id}@${i}/t${t.term}:op${t.opId}`)).slice(0, 8);
    violation(
      'liveness',
      `not converged ${LIVENESS_MS}ms after heal: leader=${l?.id ?? 'none'} tickets=${tickets.join(',') || 'none'} ` +
        `probes=${probes.length} (last: ${probes.slice(-4).map((p) => `op${p.id}:${p.outcome}`).join(',')}) waiting=${this.client.waiting().slice(0, 8).join(',')} ` +
        `nodes=${this.upNodes().map((n) => `${n.id}:${n.role}/t${termOf(n)}/applied ${n.sm.applied}/last ${n.storage.lastIndex()}/t${n.storage.term(n.storage.lastIndex())}`).join(' ')} ` +
        `voters=${this.committedConf.voters} learners=${this.committedConf.learners} tuning=${JSON.stringify(this.tuning)}`,
    );
  }

  /**
   * Converged: a current leader, probe INCs on every key answered ok, no op still waiting on a
   * live proposer, and every member applied the leader's whole log. A ticket beyond the end of
   * the log resolves only when the log grows past it, so probes continue while ops wait.
   */
  private converged(probes: IncOp[]): boolean {
    const l = this.leader();
    if (!l?.raw) return false;
    const maxTerm = Math.max(...this.upNodes().filter((n) => this.isMember(n.id)).map(termOf));
    if (termOf(l) < maxTerm) return false;
    const open = probes.filter((p) => p.outcome === 'pending');
    const waiting = this.client.waiting();
    const done = new Set(probes.filter((p) => p.outcome === 'ok').map((p) => p.key));
    const needed = KEYS.filter((k) => !done.has(k));
    // Probes sent to a leader that lost its place may wait until the log grows past them.
    if (open.length === 0 || this.now - (probes[probes.length - 1]?.invokeAt ?? 0) >= PROBE_RETRY_MS) {
      for (const key of needed.length > 0 ? needed : waiting.length > 0 ? [KEYS[0]!] : []) {
        const op = this.client.invoke(this.now, l, key, true);
        if (op) probes.push(op);
      }
    }
    if (needed.length > 0 || waiting.length > 0 || open.length > 0) return false;
    const st = l.raw.status();
    if (st.commit !== st.lastIndex) return false;
    for (const n of this.nodes.values()) {
      if (this.isMember(n.id) && (!n.up || n.sm.applied !== st.commit)) return false;
    }
    return true;
  }

  private finalChecks(): void {
    const l = this.leader()!;
    this.log(`converged: leader ${l.id} term ${termOf(l)} commit ${l.sm.applied}`);
    for (const n of this.nodes.values()) {
      if (!this.isMember(n.id)) continue;
      for (const key of new Set([...n.sm.counters.keys(), ...l.sm.counters.keys()])) {
        if ((n.sm.counters.get(key) ?? 0) !== (l.sm.counters.get(key) ?? 0)) {
          violation('final-state', `${n.id} ${key}=${n.sm.counters.get(key)} but leader ${l.id} has ${l.sm.counters.get(key)}`);
        }
      }
    }
    const verdict = checkIncHistory({
      ops: this.client.ops,
      reads: this.client.reads,
      finalValues: l.sm.counters,
      appliedValues: this.checker.appliedValues,
    });
    if (!verdict.ok) violation(verdict.property, verdict.detail);
  }

  private result(err: SimViolation | null): SimResult {
    const s = this.stats;
    s.elections = this.checker.elections();
    s.commits = this.checker.committedIndex();
    s.ok = this.client.stats.ok;
    s.fail = this.client.stats.fail;
    s.unknown = this.client.stats.unknown;
    s.reads = this.client.readStats.ok;
    s.events = this.trace.events();
    s.virtualMs = this.now;
    if (err) this.log(`VIOLATION ${err.property}: ${err.detail}`);
    return {
      seed: 0,
      ok: err === null,
      ...(err ? { property: err.property, detail: err.detail } : {}),
      traceHash: this.trace.hash(),
      trace: this.trace.all(),
      stats: s,
    };
  }
}

export function termOf(n: SimNode): number {
  return n.storage.initialState().hardState.term;
}

export type { SimOptions, SimResult, SimStats };

/** Runs one seed. */
export function runSeed(opts: SimOptions): SimResult {
  const r = new Simulation(opts).run();
  return { ...r, seed: opts.seed };
}

