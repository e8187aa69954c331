/**
 * Degraded-link scenario (netem.test.ts), run in the clients' namespace: a 3-node shard (nodes
 * at 10.77.0.1-3, this process at 10.77.0.4), then for each phase: degrade one node's link (the
 * leader's or a follower's, chosen when the phase starts), run a bounded retrying INC ID load on
 * a fresh sequence, heal, let every op finish (each retries its token until it has a number or
 * the finish window closes), and wait until every node has applied the same index. Prints one
 * SEQDB-RESULT line with, per phase, the history (for checkIncHistory), the longest stretch
 * without an acknowledged INC while the fault was on, leader changes, and convergence time.
 *
 *   node --import=tsx test/chaos/netem-scenario.ts <config.json>
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertIsolatedNamespace, type NetnsNode, printResult } from '../helpers/netns.ts';
import { type NodeFaults, linkStats, setFaults } from '../helpers/netem.ts';
import { ChaosCluster, NODE_PORT } from './cluster.ts';
import { ChaosRouters } from './routers.ts';
import { RespConn } from './resp-conn.ts';

export interface Phase {
  readonly name: string;
  /** Whose link: the leader's when the phase starts, or a follower's. */
  readonly target: 'leader' | 'follower';
  readonly faults: NodeFaults;
  readonly durationMs: number;
  /** kill -9 the target right after the fault is on, and start it again 300 ms later. */
  readonly restartTarget?: boolean;
}

export interface ScenarioConfig {
  readonly nodes: readonly NetnsNode[];
  readonly ctlFile: string;
  readonly runDir: string;
  readonly clients: number;
  readonly finishMs: number;
  readonly convergeMs: number;
  readonly attemptTimeoutMs: number;
  readonly phases: readonly Phase[];
  /** INFO sampling interval of every node (each sample's replies cross the degraded link too). */
  readonly sampleMs: number;
  /** Faults (by 1-based namespace number) on before the nodes start; phases replace them. */
  readonly initialFaults?: ReadonlyArray<readonly [number, NodeFaults]>;
  /** How long the shard may take to form. */
  readonly formMs?: number;
  /** A `seqdb router` in this namespace in front of the shard (then a sharded cluster of one shard); clients use only it. */
  readonly router?: NetnsNode;
}

export interface JsonOp { client: number; token: string; invokeMs: number; ackMs: number; value: string | null; attempts: number }

export interface PhaseResult {
  name: string;
  target: number;
  ops: JsonOp[];
  ackedDuringFault: number;
  /** Longest stretch (ms) with no INC acknowledged while the fault was on (from fault start). */
  longestStallMs: number;
  /** Stretch (ms) from healing to the first acknowledgement after it. */
  firstAckAfterHealMs: number | null;
  /** Distinct (leader, term) pairs seen while the fault was on, in order. */
  leaders: string[];
  termStart: number;
  termEnd: number;
  /** Samples (every 250 ms) without any leader while the fault was on. */
  leaderlessSamples: number;
  samples: number;
  unfinished: number;
  /** Time from healing until every node answered with the same applied index and a single leader. */
  convergeMs: number | null;
  finalInfo: Array<Record<string, string> | null>;
  linkStats: string;
  errors: string[];
  /** Per sample: ms since the fault, then each node's role initial, term/applied ('-': no answer in 1 s). */
  timeline: string[];
  /**
   * First sample (ms since the fault) where the target was in the leader's term with its applied
   * index within 20 of the leader's, or at least the leader's of the sample before (if that grew).
   */
  targetCaughtUpMs: number | null;
  /** Leader's applied index less the target's at the last sample under the fault where both answered. */
  targetLastLag: number | null;
  /** How far the target's applied index moved between its first and last answers under the fault. */
  targetAdvance: number | null;
  /** Target node's log lines about peers (reconnects) during the run. */
  targetLog: string[];
  /** The same of the node that led when the phase began. */
  leaderLog: string[];
  /** Acknowledged INCs per second since the fault started. */
  acksPerSecond: number[];
}

const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ScenarioConfig;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function incWithToken(client: number, conns: Map<string, RespConn>, addrs: string[], startAt: { i: number }, seq: string, token: string, deadline: number, errors: string[]): Promise<JsonOp> {
  const op: JsonOp = { client, token, invokeMs: Date.now(), ackMs: 0, value: null, attempts: 0 };
  while (Date.now() < deadline) {
    op.attempts++;
    const addr = addrs[startAt.i % addrs.length]!;
    let conn = conns.get(addr);
    if (conn === undefined) {
      conn = new RespConn(addr.split(':')[0]!, NODE_PORT);
      conns.set(addr, conn);
    }
    const r = await conn.call(['INC', 'b', seq, 'ID', token], Math.max(1, Math.min(cfg.attemptTimeoutMs, deadline - Date.now())));
    if (r.kind === 'reply' && r.reply.kind === 'integer') {
      op.value = String(r.reply.value);
      op.ackMs = Date.now();
      return op;
    }
    if (r.kind === 'reply' && r.reply.kind === 'error') {
      if (errors.length < 200) errors.push(`${addr} ${r.reply.word} ${r.reply.message}`);
      if (r.reply.word === 'NOTLEADER') {
        const hint = r.reply.message.split(' ')[1];
        const k = hint === undefined ? -1 : addrs.indexOf(hint);
        if (k >= 0 && k !== startAt.i % addrs.length) { startAt.i = k; continue; }
      }
    } else if (errors.length < 200) errors.push(`${addr} ${r.kind} ${'error' in r ? r.error : ''}`);
    startAt.i++;
    await sleep(30);
  }
  return op;
}

/** A member's match index in a leader's INFO `members` line (id=addr/kind/match,...); null if absent. */
function memberMatch(members: string | undefined, id: string | null): number | null {
  const entry = members?.split(',').find((m) => id !== null && m.startsWith(`${id}=`));
  const match = Number(entry?.split('/').at(-1));
  return Number.isFinite(match) ? match : null;
}

function peerLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => /peer|reconnect/i.test(l)).slice(-15).map((l) => l.slice(0, 300));
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  assertIsolatedNamespace(['veth0']);
  const log = (l: string): void => { process.stderr.write(`${new Date().toISOString()} ${l}\n`); };
  const cluster = new ChaosCluster({ namespaces: cfg.nodes, shards: 1, runDir: join(cfg.runDir, 'nodes'), log, sharded: cfg.router !== undefined });
  const shard = cluster.shardIds[0]!;
  const routers = cfg.router === undefined ? null : new ChaosRouters([cfg.router], join(cfg.runDir, 'nodes'), cluster.nodes.map((n) => n.addr), log);
  const addrs = routers === null ? cluster.nodes.map((n) => n.addr) : routers.addrs;
  const results: PhaseResult[] = [];
  try {
    if (cfg.initialFaults !== undefined) await setFaults(cfg.ctlFile, new Map(cfg.initialFaults));
    const tStart = Date.now();
    try {
      await cluster.startAll(cfg.formMs ?? 60_000);
    } catch (err) {
      log(String(err).slice(0, 4000));
      const infos = await Promise.all(cluster.nodes.map((n) => cluster.info(n.index, 2_000)));
      printResult({ formedMs: null, phases: [], infos, logs: cluster.nodes.map((n) => peerLines(n.logPath)) });
      return;
    }
    await routers?.startAll(1, 30_000);
    const formedMs = Date.now() - tStart;
    log(`formed in ${formedMs} ms`);
    const infoConns = new Map<number, RespConn>();
    const infoConn = (i: number): RespConn => {
      const n = cluster.nodes[i]!;
      if (!infoConns.has(i)) infoConns.set(i, new RespConn(n.address, NODE_PORT));
      return infoConns.get(i)!;
    };
    for (const [p, phase] of cfg.phases.entries()) {
      const leader = await cluster.waitForLeader(shard, 20_000);
      if (leader === null) throw new Error(`no leader before phase ${phase.name}`);
      const target = phase.target === 'leader' ? leader.index : (leader.index + 1) % cluster.nodes.length;
      log(`phase ${phase.name}: leader n${leader.index}, degrading n${target}`);
      const errors: string[] = [];
      const seq = `s${p}`;
      const statsBefore = linkStats(cfg.ctlFile);
      const tFault = Date.now();
      await setFaults(cfg.ctlFile, new Map([[target + 1, phase.faults]]));
      if (phase.restartTarget === true) {
        cluster.kill(target);
        await sleep(300);
        cluster.restart(target);
      }
      const faultEnd = tFault + phase.durationMs;
      const opDeadline = faultEnd + cfg.finishMs;
      // Load: each client INCs one op after another until the fault ends; each op retries its token.
      const ops: JsonOp[] = [];
      const clients = Array.from({ length: cfg.clients }, async (_, c) => {
        const conns = new Map<string, RespConn>();
        const at = { i: c };
        for (let o = 0; Date.now() < faultEnd && o < 100_000; o++) {
          ops.push(await incWithToken(c, conns, addrs, at, seq, `p${p}-c${c}-o${o}`, opDeadline, errors));
        }
        for (const conn of conns.values()) conn.close();
      });
      // Leadership samples while the fault is on.
      const leaders: string[] = [];
      const timeline: string[] = [];
      let targetCaughtUpMs: number | null = null;
      let firstLeadApplied = NaN;
      let prevLeadApplied = NaN;
      let targetLastLag: number | null = null;
      let targetFirstApplied: number | null = null;
      let targetAdvance: number | null = null;
      let leaderless = 0;
      let samples = 0;
      let termStart = NaN;
      let termEnd = NaN;
      while (Date.now() < faultEnd) {
        // Kept connections: a new one per ask is two round trips over a degraded link, and samples
        // of a restarted target timed out for seconds in a busy run (back in step after 11 s?).
        const infos = await Promise.all(cluster.nodes.map((n) => cluster.info(n.index, n.index === target ? 1_500 : 1_000, infoConn(n.index))));
        samples++;
        timeline.push(`${Date.now() - tFault}:${infos.map((inf) => (inf === null ? '-' : `${inf.role?.[0] ?? '?'}${inf.term}/${inf.applied_index}`)).join(',')}`);
        let best: { i: number; term: number } | null = null;
        infos.forEach((inf, i) => {
          if (inf?.role === 'leader' && (best === null || Number(inf.term) > best.term)) best = { i, term: Number(inf.term) };
          const t = Number(inf?.term);
          if (Number.isFinite(t)) { if (Number.isNaN(termStart) || t < termStart) termStart = t; if (Number.isNaN(termEnd) || t > termEnd) termEnd = t; }
        });
        const b = best as { i: number; term: number } | null;
        const ti = infos[target];
        const leadApplied = b === null ? NaN : Number(infos[b.i]?.applied_index);
        if (ti !== null && ti !== undefined && b !== null) targetLastLag = leadApplied - Number(ti.applied_index);
        if (ti !== null && ti !== undefined) {
          targetFirstApplied ??= Number(ti.applied_index);
          targetAdvance = Number(ti.applied_index) - targetFirstApplied;
        }
        if (targetCaughtUpMs === null && ti !== null && ti !== undefined && b !== null && Number(ti.term) === b.term) {
          // Within 20 entries of the leader, or holding what it had applied a sample ago (~0.7 s) if
          // that was written under the fault: at ~600 INC/s the 20 alone is a 30 ms race.
          const bar = prevLeadApplied > firstLeadApplied ? Math.min(leadApplied - 20, prevLeadApplied) : leadApplied - 20;
          if (Number(ti.applied_index) >= bar) targetCaughtUpMs = Date.now() - tFault;
        }
        if (b !== null && Number.isFinite(leadApplied)) {
          if (Number.isNaN(firstLeadApplied)) firstLeadApplied = leadApplied;
          prevLeadApplied = leadApplied;
        }
        // What the leader knows the target holds: its answers cross the degraded link too.
        if (b !== null) timeline[timeline.length - 1] += `,m${memberMatch(infos[b.i]!.members, cluster.nodes[target]!.nodeId)}`;
        if (b === null) leaderless++;
        else if (leaders.at(-1) !== `n${b.i}@${b.term}`) leaders.push(`n${b.i}@${b.term}`);
        await sleep(Math.max(0, Math.min(cfg.sampleMs, faultEnd - Date.now())));
      }
      const stats = linkStats(cfg.ctlFile);
      const tHeal = Date.now();
      await setFaults(cfg.ctlFile, new Map());
      log(`phase ${phase.name}: healed`);
      await Promise.all(clients);
      // Convergence: every node answers, same applied index, one leader.
      let convergeMs: number | null = null;
      let finalInfo: Array<Record<string, string> | null> = [];
      while (Date.now() < tHeal + cfg.convergeMs) {
        finalInfo = await Promise.all(cluster.nodes.map((n) => cluster.info(n.index, 500)));
        const applied = finalInfo.map((i) => i?.applied_index ?? i?.last_applied ?? null);
        const lead = finalInfo.filter((i) => i?.role === 'leader').length;
        if (applied.every((a) => a !== null && a === applied[0]) && lead === 1) {
          convergeMs = Date.now() - tHeal;
          break;
        }
        await sleep(100);
      }
      const acked = ops.filter((o) => o.value !== null).map((o) => o.ackMs).sort((a, b) => a - b);
      const during = acked.filter((a) => a <= tHeal);
      let stall = 0;
      let prev = tFault;
      for (const a of during) { stall = Math.max(stall, a - prev); prev = a; }
      stall = Math.max(stall, tHeal - prev);
      const after = acked.find((a) => a > tHeal);
      results.push({
        name: phase.name, target, ops, ackedDuringFault: during.length, longestStallMs: stall,
        firstAckAfterHealMs: after === undefined ? null : after - tHeal, leaders, termStart, termEnd,
        leaderlessSamples: leaderless, samples, unfinished: ops.filter((o) => o.value === null).length,
        convergeMs, targetCaughtUpMs, targetLastLag, targetAdvance, targetLog: peerLines(cluster.nodes[target]!.logPath),
        leaderLog: peerLines(cluster.nodes[leader.index]!.logPath), finalInfo, linkStats: `before: ${statsBefore} | at heal: ${stats}`, errors: errors.slice(0, 30), timeline,
        acksPerSecond: Array.from({ length: Math.ceil((tHeal - tFault) / 1000) + 3 }, (_, s) => acked.filter((a) => a - tFault >= s * 1000 && a - tFault < (s + 1) * 1000).length),
      });
      log(`phase ${phase.name}: ${ops.length} ops, ${during.length} acked under fault, stall ${stall} ms, leaders ${leaders.join(' ')}, converge ${convergeMs} ms`);
    }
    for (const c of infoConns.values()) c.close();
    printResult({ formedMs, phases: results });
  } catch (err) {
    log(`scenario failed: ${(err as Error).stack ?? String(err)}`);
    log(cluster.logTails());
    if (routers !== null) log(routers.logTails());
    throw err;
  } finally {
    await setFaults(cfg.ctlFile, new Map()).catch(() => undefined);
    await routers?.shutdown();
    await cluster.shutdown();
  }
}

main().catch(() => {
  process.exitCode = 1;
});
