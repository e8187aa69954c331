/**
 * Liveness measured by when a message was sent, not when it arrived. A leader whose link is
 * slower than its own traffic (a 50 kbit/s link, a saturated NIC, a deep queue in between) kept
 * leadership for seconds while committing nothing (a netem review: 5-12 s at 50 kbit/s): every
 * late heartbeat still restarted the followers' election timers and leases, and every late
 * answer still counted toward the leader's check-quorum.
 *
 * With a clock (RaftConfig.clockMs) the leader stamps app and heartbeat messages with its clock,
 * answers echo the stamp, and:
 * - a follower keeps, per leader and term, a slowly rising minimum of `arrival - stamp` (the
 *   fastest delivery plus the clocks' offset, which drifts only slowly); a message later
 *   than that by more than `staleAfterMs` is still applied but neither restarts the election
 *   timer nor keeps a pre-candidate from its pre-election, so the followers elect a leader
 *   among themselves (pre-vote still needs a majority that hears no fresh leader either);
 * - the leader counts a peer toward check-quorum only if it answered something sent since the
 *   check before the last one (two periods: a round trip up to ~2 election timeouts passes),
 *   so it steps down once its answers come back late. Sequenced by the leader's own checks,
 *   never by a comparison of clocks, so a leader paused for a while (GC, disk) is not demoted by
 *   the answers it reads after the pause.
 * A peer that never echoed a stamp (a build before stamps) is counted as before.
 */
import type { Progress } from './progress.ts';
import type { Raft } from './raft.ts';
import type { Message } from './types.ts';

/**
 * A follower's fastest delivery from the current leader: the smallest `arrival - stamp`, allowed
 * to rise by BASELINE_RISE of the time since the previous message. A minimum kept for a whole
 * term let the clocks' rates (NTP and chrony slew monotonic clocks, chrony by up to 8.3%) drift
 * the offset past staleAfterMs within hours, or seconds, and every message of a healthy leader
 * then looked late (a review: a follower stuck as pre-candidate, a healthy leader replaced,
 * transfers lost). A queue that backs up faster than the rise is still seen.
 */
export interface LeaderDelivery {
  readonly from: string;
  readonly term: number;
  baselineMs: number;
  /** This node's clock at the previous message. */
  atMs: number;
}

/** How fast the baseline may rise (ms per ms): far above clock drift, far below a backing-up queue. */
const BASELINE_RISE = 0.1;
/** A delivery this much faster than the baseline is not believed. */
const IMPLAUSIBLE_DROP_MS = 3_600_000;

/**
 * Whether a message from the leader is recent enough to count as hearing from it (election
 * timer, lease). Unstamped messages (no clock, an older leader) always are.
 */
export function heardFresh(r: Raft, m: Message): boolean {
  const clock = r.cfg.clockMs;
  if (clock === undefined || m.stamp === undefined) return true;
  const nowMs = clock();
  const offsetMs = nowMs - m.stamp;
  const d = r.leaderDelivery;
  if (d === null || d.from !== m.from || d.term !== m.term) {
    r.leaderDelivery = { from: m.from, term: m.term, baselineMs: offsetMs, atMs: nowMs };
    return true;
  }
  // No queue is an hour deep: a stamp that far ahead of the baseline is a broken peer's, and
  // taking it would make every later message of the term look late (a review).
  if (d.baselineMs - offsetMs > IMPLAUSIBLE_DROP_MS) return true;
  d.baselineMs = Math.min(offsetMs, d.baselineMs + BASELINE_RISE * Math.max(0, nowMs - d.atMs));
  d.atMs = nowMs;
  return offsetMs - d.baselineMs <= r.cfg.staleAfterMs;
}

/** What the leader stamps on an app or heartbeat it sends now (undefined: no clock). */
export function sendStamp(r: Raft): number | undefined {
  const c = r.cfg.clockMs;
  // Whole ms: the wire carries an integer (performance.now is fractional; a review).
  return c === undefined ? undefined : Math.floor(c());
}

/** The leader records an answer's echoed stamp (the newest one wins). */
export function recordEcho(r: Raft, pr: Progress, m: Message): void {
  // An echo of a time not reached yet was never sent by us (a broken peer): ignore it.
  if (m.stamp === undefined || m.stamp > Math.floor(r.cfg.clockMs?.() ?? Infinity)) return;
  if (m.stamp > pr.echoedStampMs) pr.echoedStampMs = m.stamp;
}

/**
 * Marks the start of a check-quorum period (at becoming leader and at every check); answers to
 * what was sent since the start of the previous period count as fresh.
 */
export function startCheckPeriod(r: Raft, fresh: boolean): void {
  // Floored like the stamps it is compared with.
  const now = Math.floor(r.cfg.clockMs?.() ?? 0);
  r.checkPeriodStartsMs = fresh ? [now, now] : [r.checkPeriodStartsMs[1], now];
}

/** Whether a peer's answers in this period were to recent messages (see the file comment). */
export function answeredFresh(r: Raft, echoedStampMs: number): boolean {
  if (r.cfg.clockMs === undefined || echoedStampMs < 0) return true;
  return echoedStampMs >= r.checkPeriodStartsMs[0];
}
