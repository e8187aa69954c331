/**
 * Liveness measured by when a message was sent, not when it arrived. A leader whose link is
 * slower than its own traffic (a 50 kbit/s link, a saturated NIC, a deep queue in between) kept
 * leadership for seconds while committing nothing (a netem review: 5-12 s at 50 kbit/s): every
 * late heartbeat still restarted the followers' election timers and leases, and every late
 * answer still counted toward the leader's check-quorum.
 *
 * With a clock (RaftConfig.clockMs) the leader stamps app and heartbeat messages with its clock,
 * answers echo the stamp, and:
 * - a follower keeps, per leader and term, the smallest recent `arrival - stamp` (the fastest
 *   delivery plus the clocks' offset, near constant on monotonic clocks); a message later
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
import type { Raft } from './raft.ts';
import type { Message } from './types.ts';

/**
 * A follower's fastest delivery from the current leader, as the minimum over the current and
 * the previous window of `windowMs`: a minimum kept for a whole term would let the two clocks'
 * rates (monotonic clocks are slewed by NTP, up to 500 ppm) drift the offset by a second within
 * hours and start needless elections; over two windows (20 s at the defaults) the drift stays
 * under 10 ms. A queue that builds faster than staleAfterMs per two windows is still seen.
 */
export interface LeaderDelivery {
  readonly from: string;
  readonly term: number;
  windowStartMs: number;
  windowMinMs: number;
  previousMinMs: number;
}

/** Windows of the fastest-delivery minimum, in units of staleAfterMs. */
const WINDOW_PER_STALE = 10;

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
    r.leaderDelivery = { from: m.from, term: m.term, windowStartMs: nowMs, windowMinMs: offsetMs, previousMinMs: offsetMs };
    return true;
  }
  if (nowMs - d.windowStartMs >= WINDOW_PER_STALE * r.cfg.staleAfterMs) {
    d.previousMinMs = d.windowMinMs;
    d.windowMinMs = offsetMs;
    d.windowStartMs = nowMs;
  } else if (offsetMs < d.windowMinMs) d.windowMinMs = offsetMs;
  return offsetMs - Math.min(d.windowMinMs, d.previousMinMs) <= r.cfg.staleAfterMs;
}

/** What the leader stamps on an app or heartbeat it sends now (undefined: no clock). */
export function sendStamp(r: Raft): number | undefined {
  return r.cfg.clockMs?.();
}

/** The leader records an answer's echoed stamp (the newest one wins). */
export function recordEcho(r: Raft, m: Message): void {
  if (m.stamp === undefined) return;
  const pr = r.progress.get(m.from);
  if (pr !== undefined && m.stamp > pr.echoedStampMs) pr.echoedStampMs = m.stamp;
}

/**
 * Marks the start of a check-quorum period (at becoming leader and at every check); answers to
 * what was sent since the start of the previous period count as fresh.
 */
export function startCheckPeriod(r: Raft, fresh: boolean): void {
  const now = r.cfg.clockMs?.() ?? 0;
  r.checkPeriodStartsMs = fresh ? [now, now] : [r.checkPeriodStartsMs[1], now];
}

/** Whether a peer's answers in this period were to recent messages (see the file comment). */
export function answeredFresh(r: Raft, echoedStampMs: number): boolean {
  if (r.cfg.clockMs === undefined || echoedStampMs < 0) return true;
  return echoedStampMs >= r.checkPeriodStartsMs[0];
}
