/**
 * Degraded links (netem-style: delay + jitter, loss, duplication, reordering, a 50 kbit link,
 * one-direction faults) on one node of a 3-node shard — a follower's or the leader's — under a
 * bounded retrying INC ID load (netem-scenario.ts). For every phase: the history passes
 * checkIncHistory (acknowledged numbers unique, no gaps, real-time order), every op got its number
 * within the finish window, the shard kept serving (longest stretch without an acknowledged INC
 * under a bound), leadership did not flap, and after healing all nodes converge (same applied
 * index, one leader, same sequence count).
 *
 * Real `seqdb node` processes in namespaces we create. The kernel's netem is used nowhere: this CI
 * kernel lacks sch_netem, so test/helpers/tunlink.c emulates it in userspace on TUN devices
 * (test/helpers/netem.ts). Skips (with the reason) when not root, or without ip/cc/TUN.
 *
 *   npx ava test/chaos/netem.test.ts --verbose [--match "*leader*"]
 *   NETEM_SEED=7 to change the seed of loss/jitter/duplication decisions; NETEM_VERBOSE=1 for
 *   per-sample role/term/applied timelines; NETEM_KEEP=1 keeps the node logs.
 *
 * `npm test` runs the regressions of what a review found (marked CI below); the whole matrix
 * (~6 min) runs with NETEM_FULL=1 (`npm run chaos:netem`). Fixed: a peer dial was abandoned after
 * a fixed 250 ms (node/replication/peer-link.ts), so no peer link could be (re)established over a
 * round trip above 250 ms: a 300 ms shard never formed, a follower restarted behind 150 ms of
 * one-way delay never rejoined. Fixed (CI): a leader whose link is slower than its traffic (50
 * kbit/s) kept leadership for 6-12 s, sometimes the whole fault, acknowledging no INC: its late
 * heartbeats kept the followers' timers fresh (node/raft/leader-clock.ts); now one change of
 * leader and INCs flow again within ~3 s (the link's queue passes 1 s, an election timeout, a
 * client's attempt timeout of 1.5 s).
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killGroup, REPO_ROOT, scenarioResult } from '../helpers/netns.ts';
import { createEmulatedNetwork, netemUnavailable } from '../helpers/netem.ts';
import { checkIncHistory, type IncOp } from '../replication/helpers/cluster.ts';
import type { Phase, PhaseResult, ScenarioConfig } from './netem-scenario.ts';

const SEED = Number(process.env.NETEM_SEED ?? 1);
const unavailable = netemUnavailable();

interface Bounds {
  /** Longest stretch without an acknowledged INC while the fault is on. */
  readonly stallMsMax: number;
  /** Most distinct leaders (leader@term) seen while the fault is on. */
  readonly leadersMax: number;
  /** Most ms after the fault started until the target is back in step with the leader. */
  readonly caughtUpMsMax?: number;
  /** Fewest entries the degraded node must apply while the fault is on (its links carry data). */
  readonly advanceMin?: number;
}

async function runPhases(t: ExecutionContext, phases: ReadonlyArray<Phase & { bounds: Bounds }>, sampleMs = 250,
  initial?: Pick<ScenarioConfig, 'initialFaults' | 'formMs'> & { withRouter?: boolean }): Promise<PhaseResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-netem-'));
  const withRouter = initial?.withRouter === true;
  const net = await createEmulatedNetwork(withRouter ? 5 : 4, SEED, dir);
  const cfg: ScenarioConfig = {
    nodes: net.nodes.slice(0, 3), ctlFile: net.ctlFile, runDir: dir, clients: Number(process.env.NETEM_CLIENTS ?? 4),
    finishMs: 20_000, convergeMs: 20_000, attemptTimeoutMs: withRouter ? 5_000 : 1_500, phases, sampleMs,
    ...(initial?.initialFaults !== undefined ? { initialFaults: initial.initialFaults } : {}),
    ...(initial?.formMs !== undefined ? { formMs: initial.formMs } : {}),
    ...(withRouter ? { router: net.nodes[4]! } : {}),
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(cfg));
  const child = net.spawn(3, join(REPO_ROOT, 'test', 'chaos', 'netem-scenario.ts'), [join(dir, 'config.json')]);
  t.teardown(async () => {
    killGroup(child);
    net.destroy();
    if (process.env.NETEM_KEEP === undefined) await rm(dir, { recursive: true, force: true });
  });
  const budget = 60_000 + (initial?.formMs ?? 0) + phases.reduce((s, p) => s + p.durationMs + cfg.finishMs + cfg.convergeMs, 0);
  t.timeout(budget + 10_000);
  const r = await scenarioResult<{ formedMs: number | null; phases: PhaseResult[]; infos?: unknown[]; logs?: string[][] }>(child, budget);
  t.log(`shard formed in ${r.formedMs} ms`);
  if (r.formedMs === null) {
    t.log(`INFO: ${JSON.stringify(r.infos?.map((i) => i === null ? null : { role: (i as Record<string, string>).role, term: (i as Record<string, string>).term }))}`);
    t.log(`peer lines: ${r.logs?.map((l) => l.slice(-3).join(' / ')).join('\n')}`);
  }
  t.not(r.formedMs, null, 'the shard formed');
  for (const [k, p] of r.phases.entries()) {
    const bounds = phases[k]!.bounds;
    const ops: IncOp[] = p.ops.map((o) => ({ ...o, value: o.value === null ? null : BigInt(o.value) }));
    const problems = checkIncHistory(ops);
    t.log(`${p.name} (n${p.target}): ${p.ops.length} ops, ${p.ackedDuringFault} acked under fault, longest stall ${p.longestStallMs} ms, `
      + `first ack after heal ${p.firstAckAfterHealMs} ms, leaders ${p.leaders.join(' ')} (terms ${p.termStart}..${p.termEnd}), `
      + `${p.leaderlessSamples}/${p.samples} samples leaderless, unfinished ${p.unfinished}, converged ${p.convergeMs} ms`);
    t.log(`  link: ${p.linkStats.replace(/\n/g, '; ')}`);
    t.log(`  target caught up at ${p.targetCaughtUpMs} ms after the fault started; trailing the leader by ${p.targetLastLag} entries at its end, having applied ${p.targetAdvance} under it`);
    if (process.env.NETEM_VERBOSE !== undefined) t.log(`  target log: ${p.targetLog.join('\n')}`);
    t.log(`  acks/s: ${p.acksPerSecond.join(' ')}`);
    if (process.env.NETEM_VERBOSE !== undefined) t.log(`  timeline: ${p.timeline.join(' ')}`);
    if (problems.length > 0 || p.unfinished > 0 || p.convergeMs === null) t.log(`  errors: ${p.errors.slice(0, 8).join(' | ')}`);
    t.deepEqual(problems, [], `${p.name}: INC history`);
    t.is(p.unfinished, 0, `${p.name}: every INC got its number within the finish window`);
    t.not(p.convergeMs, null, `${p.name}: all nodes applied the same index with one leader after healing`);
    const seqs = p.finalInfo.map((i) => i?.sequences);
    t.true(seqs.every((s) => s !== undefined && s === seqs[0]), `${p.name}: same sequence count everywhere (${seqs.join(',')})`);
    t.true(p.longestStallMs <= bounds.stallMsMax, `${p.name}: longest stall ${p.longestStallMs} ms (want <= ${bounds.stallMsMax})`);
    if (bounds.caughtUpMsMax !== undefined) {
      // The why goes into the message: a CI log shows a failed assertion's message, not t.log.
      t.true(p.targetCaughtUpMs !== null && p.targetCaughtUpMs <= bounds.caughtUpMsMax, `${p.name}: target back in step after ${p.targetCaughtUpMs} ms `
        + `(want <= ${bounds.caughtUpMsMax}); timeline ${p.timeline.slice(0, 12).join(' ')}; target: ${peerTail(p.targetLog)}; leader: ${peerTail(p.leaderLog)}`);
    }
    if (bounds.advanceMin !== undefined) t.true(p.targetAdvance !== null && p.targetAdvance >= bounds.advanceMin, `${p.name}: the degraded node applied ${p.targetAdvance} entries under the fault (want >= ${bounds.advanceMin})`);
    t.true(p.leaders.length <= bounds.leadersMax, `${p.name}: ${p.leaders.length} leaders under the fault: ${p.leaders.join(' ')} (want <= ${bounds.leadersMax})`);
  }
  return r.phases;
}

/** A node's last peer log lines, time and message only. */
function peerTail(lines: string[]): string {
  return lines.slice(-6).map((l) => {
    const m = /"time":"[^T]*T([^Z]*)Z".*"msg":"([^"]*)"/.exec(l);
    return m === null ? l.slice(0, 120) : `${m[1]} ${m[2]!.slice(0, 100)}`;
  }).join(' | ');
}

const both = (f: object): Phase['faults'] => ({ egress: f, ingress: f });

const full = process.env.NETEM_FULL === '1';
/** In every run (CI): the regressions. */
const ci = unavailable === null ? test.serial : test.serial.skip;
/** In the full run only (NETEM_FULL=1, npm run chaos:netem): the rest of the matrix. */
const maybe = unavailable === null && full ? test.serial : test.serial.skip;
if (unavailable !== null) test('netem tests skipped', (t) => { t.log(`skipped: ${unavailable}`); t.pass(); });

maybe('follower link: 200 ms ± 50 ms delay, 25% loss, 50 kbit', async (t) => {
  await runPhases(t, [
    { name: 'follower-delay', target: 'follower', faults: both({ delayMs: 200, jitterMs: 50 }), durationMs: 8_000, bounds: { stallMsMax: 2_000, leadersMax: 1 } },
    { name: 'follower-loss25', target: 'follower', faults: both({ lossPct: 25 }), durationMs: 10_000, bounds: { stallMsMax: 2_000, leadersMax: 1 } },
    { name: 'follower-50kbit', target: 'follower', faults: both({ rateKbit: 50 }), durationMs: 10_000, bounds: { stallMsMax: 2_000, leadersMax: 1 } },
    { name: 'follower-dup-reorder', target: 'follower', faults: both({ dupPct: 25, reorderPct: 30, delayMs: 40, jitterMs: 30 }), durationMs: 8_000, bounds: { stallMsMax: 2_000, leadersMax: 1 } },
  ]);
});

maybe('leader link: 200 ms ± 50 ms delay, 25% loss, dup + reorder', async (t) => {
  await runPhases(t, [
    { name: 'leader-delay', target: 'leader', faults: both({ delayMs: 200, jitterMs: 50 }), durationMs: 8_000, bounds: { stallMsMax: 3_000, leadersMax: 2 } },
    { name: 'leader-loss25', target: 'leader', faults: both({ lossPct: 25 }), durationMs: 10_000, bounds: { stallMsMax: 3_000, leadersMax: 2 } },
    { name: 'leader-dup-reorder', target: 'leader', faults: both({ dupPct: 25, reorderPct: 30, delayMs: 40, jitterMs: 30 }), durationMs: 8_000, bounds: { stallMsMax: 3_000, leadersMax: 2 } },
  ]);
});

ci('leader link: 50 kbit (appends back up): another node takes over', async (t) => {
  await runPhases(t, [
    { name: 'leader-50kbit', target: 'leader', faults: both({ rateKbit: 50 }), durationMs: Number(process.env.NETEM_SLOW_MS ?? 12_000), bounds: { stallMsMax: 4_800, leadersMax: 2 } },
    // Measured 3.1 s twice (one change of leader), 3.9 s in a CI run (the queue passing 1 s, an
    // election timeout, a client's 1.5 s attempt timeout); before leader-clock.ts 5-12 s, or the whole fault.
  ], Number(process.env.NETEM_SAMPLE_MS ?? 1_000));
});

maybe('asymmetric: leader egress only (30% loss, then 300 ms delay), follower ingress only 30% loss', async (t) => {
  await runPhases(t, [
    { name: 'leader-egress-loss30', target: 'leader', faults: { egress: { lossPct: 30 } }, durationMs: 10_000, bounds: { stallMsMax: 3_000, leadersMax: 2 } },
    { name: 'leader-egress-delay300', target: 'leader', faults: { egress: { delayMs: 300, jitterMs: 50 } }, durationMs: 8_000, bounds: { stallMsMax: 3_000, leadersMax: 2 } },
    { name: 'follower-ingress-loss30', target: 'follower', faults: { ingress: { lossPct: 30 } }, durationMs: 10_000, bounds: { stallMsMax: 2_000, leadersMax: 1 } },
  ]);
});

ci('a follower restarted while its link has 200 ms ± 50 ms delay rejoins', async (t) => {
  await runPhases(t, [
    // Back in step 3.8-3.9 s after the kill here (restart, one dial each way over a 300-500 ms
    // round trip, the first entries through TCP slow start); 4.5 s with dials cut at 250, 500 ms and
    // a leader that dropped its link for the 1 s the follower took to dial back (peer-link.ts); 6 s
    // here and 9.1 s in a CI run before a probe waited for answers to heartbeats sent after it
    // (progress.ts probeOverdue: the follower got its 100 KB probe 11 times). 11.4 s in a CI run
    // was maybe partly the measure: the target's INFO, on a new connection per sample (two round
    // trips) and a 1 s limit, went unanswered; now a kept connection. Never rejoining is null.
    { name: 'follower-restart-delay200', target: 'follower', restartTarget: true, faults: both({ delayMs: 200, jitterMs: 50 }), durationMs: 15_000, bounds: { stallMsMax: 2_000, leadersMax: 1, caughtUpMsMax: 8_000 } },
  ]);
});

// Where the limit was: a round trip under 250 ms rejoined, one over it did not (peer-link.ts's fixed dial timeout).
maybe('a follower restarted behind 100 ms vs 150 ms one-way delay', async (t) => {
  await runPhases(t, [
    { name: 'follower-restart-delay100', target: 'follower', restartTarget: true, faults: both({ delayMs: 100 }), durationMs: 10_000, bounds: { stallMsMax: 2_000, leadersMax: 1, caughtUpMsMax: 8_000 } },
    { name: 'follower-restart-delay150', target: 'follower', restartTarget: true, faults: both({ delayMs: 150 }), durationMs: 10_000, bounds: { stallMsMax: 2_000, leadersMax: 1, caughtUpMsMax: 8_000 } },
  ]);
});

// Not a check: what an idle shard sends (run with NETEM_CLIENTS=0 to see heartbeat bytes/s in the link stats).
(process.env.NETEM_IDLE !== undefined ? maybe : test.serial.skip)('idle traffic (measurement only)', async (t) => {
  await runPhases(t, [{ name: 'idle', target: 'leader', faults: {}, durationMs: 10_000, bounds: { stallMsMax: 1e9, leadersMax: 1 } }]);
});

// Three sites 150 ms apart (each node's egress delayed 150 ms: 300 ms round trips between nodes).
ci('a shard whose nodes are 300 ms (RTT) apart forms and serves', async (t) => {
  const wan = { egress: { delayMs: 150 } };
  await runPhases(t, [
    { name: 'wan-300ms-rtt', target: 'leader', faults: wan, durationMs: 8_000, bounds: { stallMsMax: 3_000, leadersMax: 1 } },
  ], 1_000, { initialFaults: [[1, wan], [2, wan], [3, wan]], formMs: 30_000 });
});

// A router (10.77.0.5) in front: clients reach only it; the degraded link is the leader's (router<->leader included).
maybe('behind a router: leader link 200 ms ± 50 ms delay, 25% loss, dup + reorder', async (t) => {
  await runPhases(t, [
    { name: 'router-leader-delay', target: 'leader', faults: both({ delayMs: 200, jitterMs: 50 }), durationMs: 8_000, bounds: { stallMsMax: 5_000, leadersMax: 2 } },
    { name: 'router-leader-loss25', target: 'leader', faults: both({ lossPct: 25 }), durationMs: 10_000, bounds: { stallMsMax: 5_000, leadersMax: 2 } },
    { name: 'router-follower-loss25', target: 'follower', faults: both({ lossPct: 25 }), durationMs: 8_000, bounds: { stallMsMax: 2_000, leadersMax: 1 } },
    { name: 'router-leader-dup-reorder', target: 'leader', faults: both({ dupPct: 25, reorderPct: 30, delayMs: 40, jitterMs: 30 }), durationMs: 8_000, bounds: { stallMsMax: 3_000, leadersMax: 2 } },
  ], 500, { withRouter: true });
});

// A lossy long-haul link: a dropped peer link (nothing heard for 1 s plus three round trips) must be re-established at a
// 300-500 ms round trip, so the degraded node keeps applying. It was "trails by <= 500 entries at
// the end" while the degraded node stayed leader; since leader-clock.ts the shard may move the
// leadership to the healthy pair (~1,300 INC/s), which TCP over 10% loss and 450 ms RTT (~12 KB/s)
// cannot keep a follower up with.
maybe('leader link: 200 ms ± 50 ms delay plus 10% loss', async (t) => {
  await runPhases(t, [
    { name: 'leader-delay-loss10', target: 'leader', faults: both({ delayMs: 200, jitterMs: 50, lossPct: 10 }), durationMs: 20_000, bounds: { stallMsMax: 3_000, leadersMax: 2, advanceMin: 500 } },
  ], 1_000);
});

// Heavy loss: leadership may move once, but must not flap (pre-vote, check-quorum).
maybe('heavy loss: follower 40% both ways, leader egress 50%: no endless elections', async (t) => {
  await runPhases(t, [
    { name: 'follower-loss40', target: 'follower', faults: both({ lossPct: 40 }), durationMs: 15_000, bounds: { stallMsMax: 2_000, leadersMax: 1 } },
    // Half its packets lost: an election or two in 15 s (a full run saw n0@2 n0@3 n2@4, the
    // longest stall 1.5 s), not endless ones.
    { name: 'leader-egress-loss50', target: 'leader', faults: { egress: { lossPct: 50 } }, durationMs: 15_000, bounds: { stallMsMax: 4_000, leadersMax: 3 } },
  ], 500);
});
