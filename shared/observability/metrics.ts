/**
 * Prometheus metrics of one SeqDB process (node or router), on a Registry of its own, so that
 * tests can run several nodes in one process.
 *
 * Sources that change often (Raft status, open connections) are read at scrape time through
 * `collect` callbacks; event counts (commands, flushes) are recorded as they happen.
 */
import { Registry, type Counter, type GaugeSample, type Histogram } from './prom-registry.ts';
import { CommandStats, LATENCY_BUCKETS_S } from './command-stats.ts';
import type { CommandObserver } from '../../node/server/engine.ts';

/** What the Raft gauges read at scrape time (a subset of node/raft's RaftStatus). */
export interface RaftGaugeSource {
  readonly term: number;
  readonly role: string;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** Leader only: each follower's match index. */
  readonly matchByPeer?: Readonly<Record<string, number>>;
  readonly snapshotIndex: number;
  /** Wall-clock ms of the last snapshot taken or installed by this process; null if none yet. */
  readonly snapshotAtMs: number | null;
}

/** The event-loop stall sampler's timer period (a wake-up every 20 ms: ~50/s, negligible CPU). */
const LOOP_SAMPLE_MS = 20;

export const RAFT_ROLES = ['leader', 'follower', 'candidate', 'preCandidate', 'learner', 'joining', 'standalone'] as const;

export class Metrics {
  readonly registry = new Registry();
  /** Per-command counts and latencies: recorded on every command, so not prom-client (command-stats.ts). */
  readonly commands = new CommandStats();
  readonly flushBytes: Counter;
  readonly flushSeconds: Histogram;
  private connections: () => number = () => 0;
  private raft: () => RaftGaugeSource | null = () => null;
  private limits: () => Readonly<Record<string, number>> = () => ({});
  private peerRefusals: () => Readonly<Record<string, number>> = () => ({});
  private stateChecks: () => { readonly agreed: number; readonly mismatches: number } | null = () => null;
  private labels: Readonly<Record<string, string>>;
  /** The longest this process's event loop ran its sampling timer late since the previous scrape. */
  private loopLateMaxMs = 0;

  /**
   * `labels` (e.g. component, node, shard) go on every series of this process. Not `role`:
   * seqdb_raft_role uses that label for the Raft role.
   */
  constructor(labels: Readonly<Record<string, string>> = {}) {
    this.labels = labels;
    this.registry.setDefaultLabels(labels);
    const r = this.registry;
    this.flushBytes = r.counter('seqdb_flush_bytes_total', 'Bytes written by durable flushes (Raft log entries, or commands in single-node mode).');
    this.flushSeconds = r.histogram('seqdb_flush_duration_seconds', 'Latency of one durable flush (write + fsync).', LATENCY_BUCKETS_S);
    r.gauge('seqdb_open_connections', 'Open client connections.', () => [[null, this.connections()]]);
    r.gauge('seqdb_limit_events_total', 'Clients turned away or cut off by a limit or an access check, by reason (monotonic).',
      () => Object.entries(this.limits()).map(([limit, n]): GaugeSample => [{ limit }, n]));
    r.gauge('seqdb_peer_frames_refused_total', 'Connections from other nodes dropped on a frame that did not match its checksum (reason="corrupt": changed on the way) or did not decode (reason="malformed") (monotonic).',
      () => Object.entries(this.peerRefusals()).map(([reason, n]): GaugeSample => [{ reason }, n]));
    r.gauge('seqdb_state_check_mismatches_total', "Comparisons of this replica's state digest with another replica's at the same log index that differed (monotonic; any is a damaged state, see the log).",
      () => { const c = this.stateChecks(); return c === null ? [] : [[null, c.mismatches]]; });
    r.gauge('seqdb_state_checks_agreed_total', "Comparisons of this replica's state digest with another replica's at the same log index that matched (monotonic).",
      () => { const c = this.stateChecks(); return c === null ? [] : [[null, c.agreed]]; });
    this.sampleLoop();
    r.gauge('seqdb_event_loop_stall_max_seconds', "The longest this process's event loop ran a 20 ms timer late since the previous scrape (reset by each scrape): every request the process serves waits out such a stall (a GC, a long synchronous job).",
      () => {
        const ms = this.loopLateMaxMs;
        this.loopLateMaxMs = 0;
        return [[null, ms / 1000]];
      });
    this.raftGauges();
  }

  /** Replaces the labels every series of this process carries (e.g. once the node id is known). */
  setDefaultLabels(labels: Readonly<Record<string, string>>): void {
    this.labels = labels;
    this.registry.setDefaultLabels(labels);
  }

  /** Where `seqdb_open_connections` reads from. */
  setConnectionsSource(fn: () => number): void {
    this.connections = fn;
  }

  /** Where `seqdb_limit_events_total` reads from (SeqServer.limitCounters). */
  setLimitsSource(fn: () => Readonly<Record<string, number>>): void {
    this.limits = fn;
  }

  /** Where `seqdb_peer_frames_refused_total` reads from (Transport.refusedFrames). */
  setPeerRefusalsSource(fn: () => Readonly<Record<string, number>>): void {
    this.peerRefusals = fn;
  }

  /** Where `seqdb_state_check_mismatches_total` and `seqdb_state_checks_agreed_total` read from (StateChecks.counts). */
  setStateChecksSource(fn: () => { readonly agreed: number; readonly mismatches: number }): void {
    this.stateChecks = fn;
  }

  /**
   * A timer every LOOP_SAMPLE_MS, not perf_hooks' monitorEventLoopDelay: on Node.js 20 that
   * reported ~20 ms for a loop held 300 ms (its timer's lateness is not what it records).
   */
  private sampleLoop(): void {
    let lastMs = performance.now();
    setInterval(() => {
      const now = performance.now();
      this.loopLateMaxMs = Math.max(this.loopLateMaxMs, now - lastMs - LOOP_SAMPLE_MS);
      lastMs = now;
    }, LOOP_SAMPLE_MS).unref();
  }

  /** Where the Raft gauges read from; null (or a source returning null) leaves them empty. */
  setRaftSource(fn: () => RaftGaugeSource | null): void {
    this.raft = fn;
  }

  /** Records one executed command. */
  observeCommand(type: string, result: string, seconds: number): void {
    this.commands.observe(type, result, seconds);
  }

  /** observeCommand as a server's command observer (SeqServer.observeCommands). */
  readonly commandObserver: CommandObserver = (command, result, seconds) => {
    this.observeCommand(command.type, result.type === 'error' ? result.code : 'ok', seconds);
  };

  observeFlush(bytes: number, seconds: number): void {
    this.flushBytes.inc(bytes);
    this.flushSeconds.observe(seconds);
  }

  /** The text exposition format. */
  async text(): Promise<string> {
    return `${this.registry.text()}\n${this.commands.text(this.labels)}`;
  }

  private raftGauges(): void {
    const r = this.registry;
    const simple = (name: string, help: string, pick: (s: RaftGaugeSource) => number | null): void => {
      r.gauge(name, help, () => {
        const s = this.raft();
        // Unknown (no Raft yet, no snapshot yet) is NaN, not a misleading 0.
        const v = s === null ? null : pick(s);
        return [[null, v === null ? Number.NaN : v]];
      });
    };
    simple('seqdb_raft_term', 'Current Raft term.', (s) => s.term);
    simple('seqdb_raft_commit_index', 'Raft commit index.', (s) => s.commit);
    simple('seqdb_raft_applied_index', 'Index applied to the state machine.', (s) => s.applied);
    simple('seqdb_raft_log_entries', 'Entries in the Raft log (not yet compacted).', (s) => Math.max(0, s.lastIndex - s.firstIndex + 1));
    simple('seqdb_raft_last_index', 'Last index in the Raft log.', (s) => s.lastIndex);
    simple('seqdb_snapshot_index', 'Index of the newest snapshot.', (s) => s.snapshotIndex);
    simple('seqdb_snapshot_age_seconds', 'Seconds since this process last took or installed a snapshot.', (s) => (s.snapshotAtMs === null ? null : (Date.now() - s.snapshotAtMs) / 1000));
    r.gauge('seqdb_raft_role', '1 for the current Raft role of this node, 0 for the others.', () => {
      const s = this.raft();
      return s === null ? [] : RAFT_ROLES.map((role): GaugeSample => [{ role }, role === s.role ? 1 : 0]);
    });
    r.gauge('seqdb_follower_lag_entries', 'Leader only: entries each follower is behind the leader\'s last index.', () => {
      const s = this.raft();
      if (s?.matchByPeer === undefined) return [];
      return Object.entries(s.matchByPeer).map(([peer, match]): GaugeSample => [{ peer }, Math.max(0, s.lastIndex - match)]);
    });
  }
}
