/**
 * Pure analysis behind `seqdb status`: INFO text -> a node's summary, shards and problems, and
 * the problems only the whole picture shows. INFO grows with the Raft and router issues; this
 * reads whichever names a node reports today and ignores the rest.
 */
import { parseInfo } from '../info.ts';

/** A shard as some router or node reported it in INFO. */
export interface ShardStatus {
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
}

export interface NodeStatus {
  readonly address: string;
  /** Named by another node's INFO rather than given on the command line. */
  readonly discovered?: boolean;
  readonly reachable: boolean;
  /** Not reachable for status, but it answered: it refused us (a password needed or wrong). */
  readonly refused?: boolean;
  readonly error?: string;
  readonly latencyMs?: number;
  /** The best-known fields, from whichever INFO names exist (see SUMMARY_KEYS). */
  readonly summary: Readonly<Record<string, string>>;
  readonly shards: readonly ShardStatus[];
  /** Every INFO field, for --json. */
  readonly info: Readonly<Record<string, string>>;
  readonly problems: readonly string[];
}

export interface StatusReport {
  readonly nodes: readonly NodeStatus[];
  /** Problems across nodes (two leaders of one term, …). */
  readonly problems: readonly string[];
  readonly healthy: boolean;
}

/** Summary names and the INFO keys they are read from, first present wins. */
const SUMMARY_KEYS: Readonly<Record<string, readonly string[]>> = {
  role: ['role', 'raft_role'],
  version: ['version', 'seqdb_version'],
  uptime_s: ['uptime_seconds', 'uptime_in_seconds'],
  node: ['node_id', 'raft_node_id', 'id'],
  shard: ['shard', 'shard_id'],
  term: ['term', 'raft_term', 'current_term'],
  leader: ['leader', 'leader_id', 'raft_leader', 'leader_address'],
  members: ['members', 'raft_members', 'peers'],
  commit: ['commit_index', 'raft_commit_index'],
  applied: ['applied_index', 'last_applied', 'raft_applied_index'],
  lag: ['lag', 'replication_lag', 'raft_lag', 'apply_lag'],
  shards: ['shards'],
  clients: ['connected_clients'],
  sequences: ['sequences'],
  tokens: ['tokens'],
  rps: ['requests_per_sec', 'requests_per_second', 'instantaneous_ops_per_sec'],
  errors: ['errors_total', 'errors'],
  catalog_epoch: ['catalog_epoch'],
};

/** Entries behind that count as lagging. */
export const LAG_ENTRIES_MAX = 1000;

/** Pure: INFO text -> a node's status with its problems flagged. */
export function analyzeInfo(address: string, text: string, latencyMs: number): NodeStatus {
  const { fields } = parseInfo(text);
  const summary: Record<string, string> = {};
  for (const [name, keys] of Object.entries(SUMMARY_KEYS)) {
    const key = keys.find((k) => fields[k] !== undefined);
    if (key !== undefined) summary[name] = fields[key]!;
  }
  if (summary.lag === undefined && isCount(summary.commit) && isCount(summary.applied)) {
    summary.lag = String(Number(summary.commit) - Number(summary.applied));
  }
  const shards = shardLines(fields);
  return { address, reachable: true, latencyMs, summary, shards, info: { ...fields }, problems: nodeProblems(fields, summary, shards) };
}

function nodeProblems(fields: Record<string, string>, summary: Record<string, string>, shards: ShardStatus[]): string[] {
  const problems: string[] = [];
  if (fields.loading === '1') problems.push('still loading');
  if (fields.storage_failed === '1') problems.push('storage failed: refusing every command until restarted');
  if (isCount(fields.state_damaged) && Number(fields.state_damaged) > 0) {
    problems.push(`state damaged: it differs from the state a majority of the voters hold at index ${fields.state_damaged}; rebuild it (README, Durability)`);
  }
  const role = (summary.role ?? '').toLowerCase();
  if (role === 'candidate') problems.push('candidate: an election is under way (no leader)');
  if (role === 'joining') problems.push('joining a shard: not serving yet');
  problems.push(...memberProblems(summary.members, fields.last_index));
  if (role === 'follower' && isNoLeader(summary.leader)) problems.push('follower without a known leader');
  if (isCount(summary.lag) && Number(summary.lag) > LAG_ENTRIES_MAX) problems.push(`lagging ${summary.lag} entries`);
  if (summary.shards === '0') problems.push('no shards registered');
  for (const shard of shards) {
    const lag = shard.fields.lag;
    if (isCount(lag) && Number(lag) > LAG_ENTRIES_MAX) problems.push(`shard ${shard.id} lagging ${lag} entries`);
    if (shard.fields.status !== undefined && !/^(ok|up|healthy)$/i.test(shard.fields.status)) {
      problems.push(`shard ${shard.id} status ${shard.fields.status}`);
    }
  }
  return problems;
}

/**
 * A leader's `members:id=host:port/voter/match,…`: a member whose match index trails the
 * leader's last index by more than LAG_ENTRIES_MAX, or that is unknown, is flagged.
 */
function memberProblems(members: string | undefined, lastIndex: string | undefined): string[] {
  if (members === undefined || !isCount(lastIndex)) return [];
  const problems: string[] = [];
  for (const entry of members.split(',')) {
    const [id, rest = ''] = entry.split('=');
    const parts = rest.split('/');
    const match = parts[parts.length - 1];
    if (!isCount(match)) continue; // '-' on followers: match is only known on the leader
    const behind = Number(lastIndex) - Number(match);
    if (behind > LAG_ENTRIES_MAX) problems.push(`member ${id} (${parts[0]}) lagging ${behind} entries`);
  }
  return problems;
}

/**
 * Problems only the whole picture shows. A shard a router lists without a leader (routers learn
 * leaders lazily) is flagged only if none of its nodes that answered is its leader; two nodes
 * leading one shard in the same term would be a Raft bug, reported loudly.
 */
export function clusterProblems(nodes: readonly NodeStatus[]): string[] {
  const problems: string[] = [];
  const leaders = new Map<string, string>();
  for (const node of nodes) {
    if ((node.summary.role ?? '').toLowerCase() !== 'leader' || node.summary.term === undefined) continue;
    const key = `${node.summary.shard ?? ''}/${node.summary.term}`;
    const other = leaders.get(key);
    if (other !== undefined) problems.push(`two leaders in term ${node.summary.term}: ${other} and ${node.address}`);
    else leaders.set(key, node.address);
  }
  const ledShards = new Set([...leaders.keys()].map((k) => k.slice(0, k.lastIndexOf('/'))));
  const flagged = new Set<string>();
  for (const node of nodes) {
    for (const shard of node.shards) {
      if (!('leader' in shard.fields) || !isNoLeader(shard.fields.leader)) continue;
      if (ledShards.has(shard.id) || flagged.has(shard.id)) continue;
      flagged.add(shard.id);
      problems.push(`shard ${shard.id} has no leader`);
    }
  }
  if (nodes.length > 0 && nodes.every((n) => !n.reachable)) problems.push('no address reachable');
  return problems;
}

/** Addresses a node's INFO names: a router's shard members (`members=a|b`), a node's Raft
 * members (`id=host:port/voter/match,…`). */
export function memberAddresses(node: NodeStatus): string[] {
  const out: string[] = [];
  for (const shard of node.shards) out.push(...(shard.fields.members ?? '').split('|'));
  for (const entry of (node.summary.members ?? '').split(',')) {
    const rest = entry.slice(entry.indexOf('=') + 1);
    out.push(rest.split('/')[0]!);
  }
  return out.filter((a) => /^[^\s:]+:\d{1,5}$|^\[[^\]]+\]:\d{1,5}$/.test(a));
}

/** `shard0:leader=a:1,members=3` (Redis `db0:` style) or `shard_0_leader:a:1`. */
function shardLines(fields: Record<string, string>): ShardStatus[] {
  const byId = new Map<string, Record<string, string>>();
  for (const [key, value] of Object.entries(fields)) {
    let match = /^shard(\d+|_[A-Za-z0-9-]+)$/.exec(key);
    if (match !== null && value.includes('=')) {
      const entry = byId.get(match[1]!.replace(/^_/, '')) ?? {};
      for (const pair of value.split(',')) {
        const eq = pair.indexOf('=');
        if (eq > 0) entry[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      byId.set(match[1]!.replace(/^_/, ''), entry);
      continue;
    }
    match = /^shard_([A-Za-z0-9-]+?)_([a-z_]+)$/.exec(key);
    if (match !== null) {
      const entry = byId.get(match[1]!) ?? {};
      entry[match[2]!] = value;
      byId.set(match[1]!, entry);
    }
  }
  return [...byId].map(([id, f]) => ({ id, fields: f }));
}

function isNoLeader(leader: string | undefined): boolean {
  return leader === undefined || leader === '' || leader === '?' || leader === 'none' || leader === '-';
}

function isCount(text: string | undefined): text is string {
  return text !== undefined && /^\d+$/.test(text);
}

