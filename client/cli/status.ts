/**
 * `seqdb status`: asks the given addresses for INFO, then the shard members they name (so that a
 * router leads to every node), and renders the cluster with unhealthy parts flagged.
 */
import type { ConnectionOptions } from 'node:tls';
import { createClient } from '../index.ts';
import { analyzeInfo, clusterProblems, memberAddresses, type NodeStatus, type StatusReport } from './status-analysis.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

export { analyzeInfo, type NodeStatus, type StatusReport } from './status-analysis.ts';

/** How to reach a cluster with a password and/or TLS (INFO needs no cluster secret). */
export interface StatusSecurity {
  readonly password?: string;
  readonly tls?: ConnectionOptions;
}

/** Most addresses asked in one status run, given and discovered together. */
export const STATUS_ADDRESSES_MAX = 64;

/**
 * INFO from every address in parallel, each bounded by deadlineMs, then from the members those
 * name (one more round, `expand`), so the report covers the whole cluster. Never throws for an
 * unreachable address; a malformed one is an invalid argument.
 */
export async function gatherStatus(addresses: readonly string[], deadlineMs: number, expand = true, security: StatusSecurity = {}): Promise<StatusReport> {
  const given = [...new Set(addresses)].slice(0, STATUS_ADDRESSES_MAX);
  const nodes = await Promise.all(given.map((a) => nodeStatus(a, deadlineMs, false, security)));
  if (expand) {
    const known = new Set(given);
    const more = [...new Set(nodes.flatMap(memberAddresses))].filter((a) => !known.has(a)).sort();
    const room = STATUS_ADDRESSES_MAX - given.length;
    nodes.push(...(await Promise.all(more.slice(0, room).map((a) => nodeStatus(a, deadlineMs, true, security)))));
  }
  const problems = clusterProblems(nodes);
  const healthy = problems.length === 0 && nodes.every((n) => n.problems.length === 0);
  return { nodes, problems, healthy };
}

async function nodeStatus(address: string, deadlineMs: number, discovered: boolean, security: StatusSecurity): Promise<NodeStatus> {
  const client = createClient({
    routers: [address],
    ...(security.password !== undefined ? { password: security.password } : {}),
    ...(security.tls !== undefined ? { tls: security.tls } : {}),
    deadlineMs,
    connectTimeoutMs: Math.min(1000, deadlineMs),
    attemptTimeoutMs: Math.min(2000, deadlineMs),
  });
  const startedMs = monoNowMs();
  try {
    const text = await client.info();
    return { ...analyzeInfo(address, text, monoNowMs() - startedMs), discovered };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    // A server that wants a password answered: it is up, and the fix is on our side (a review:
    // such a server was reported DOWN, exit 3 "nothing reachable").
    if (/^(NOAUTH|WRONGPASS)\b/.test(error)) {
      return { address, discovered, reachable: false, refused: true, error, summary: {}, shards: [], info: {}, problems: [`refused: ${error} (give --requirepass or SEQDB_PASSWORD)`] };
    }
    return { address, discovered, reachable: false, error, summary: {}, shards: [], info: {}, problems: [`unreachable: ${error}`] };
  } finally {
    client.destroy();
  }
}

/** The human view: one block per address, problems marked with `!`. */
export function renderStatus(report: StatusReport): string {
  const lines: string[] = [];
  for (const node of report.nodes) {
    if (!node.reachable) {
      lines.push(`${node.address}${node.discovered ? ' (member)' : ''}  ${node.refused === true ? 'REFUSED' : 'DOWN'}`);
    } else {
      // The full members line (ids, addresses, match indexes) is in --json; here, a count.
      const fields = Object.entries(node.summary).map(([k, v]) => (k === 'members' ? `members=${v.split(',').length}` : `${k}=${v}`));
      lines.push(`${node.address}${node.discovered ? ' (member)' : ''}  up ${node.latencyMs} ms  ${fields.join(' ')}`);
      for (const shard of node.shards) {
        const f = Object.entries(shard.fields).map(([k, v]) => `${k}=${v}`);
        lines.push(`  shard ${shard.id}: ${f.join(' ')}`);
      }
    }
    for (const problem of node.problems) lines.push(`  ! ${problem}`);
  }
  for (const problem of report.problems) lines.push(`! ${problem}`);
  const up = report.nodes.filter((n) => n.reachable).length;
  const count = report.problems.length + report.nodes.reduce((n, node) => n + node.problems.length, 0);
  lines.push(`${up}/${report.nodes.length} reachable, ${count === 0 ? 'healthy' : `${count} problem(s)`}`);
  return lines.join('\n');
}
