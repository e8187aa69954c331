/**
 * Network faults inside one node's namespace, with the tools this kernel has: nftables for
 * partitions and packet loss (netem is not built into every kernel; this sandbox's lacks it),
 * tbf for a slow link, `ip link` to cut a node off entirely.
 *
 * Partitions and loss are rules in the node's own `inet chaos` table (dropping both directions
 * at that node), so clients outside a partition still reach every node, as in Jepsen.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface DropRules {
  /** Addresses this node neither sends to nor accepts from. */
  readonly blocked: readonly string[];
  /** Percent of all packets dropped at random, each direction (0 = none). */
  readonly lossPercent: number;
}

export const NO_DROPS: DropRules = { blocked: [], lossPercent: 0 };

/** Replaces the node's chaos table in one nft transaction (or removes it for NO_DROPS). */
export function applyDrops(ns: string, rules: DropRules): void {
  if (!Number.isInteger(rules.lossPercent) || rules.lossPercent < 0 || rules.lossPercent > 100) throw new RangeError('lossPercent out of range');
  for (const a of rules.blocked) if (!/^10\.77\.0\.\d{1,3}$/.test(a)) throw new RangeError(`refusing to filter ${a}: only the harness's bridge addresses`);
  const out: string[] = [];
  const inp: string[] = [];
  if (rules.blocked.length > 0) {
    const set = `{ ${rules.blocked.join(', ')} }`;
    out.push(`ip daddr ${set} drop`);
    inp.push(`ip saddr ${set} drop`);
  }
  if (rules.lossPercent > 0) {
    out.push(`meta oifname "veth0" numgen random mod 100 < ${rules.lossPercent} drop`);
    inp.push(`meta iifname "veth0" numgen random mod 100 < ${rules.lossPercent} drop`);
  }
  // "add table; delete table" makes the delete succeed whether or not the table existed.
  const script = ['add table inet chaos', 'delete table inet chaos'];
  if (out.length > 0) {
    script.push(
      'table inet chaos {',
      `  chain out { type filter hook output priority 0; policy accept; ${out.join('; ')}; }`,
      `  chain in { type filter hook input priority 0; policy accept; ${inp.join('; ')}; }`,
      '}',
    );
  }
  run('ip', ['netns', 'exec', ns, nftPath(), '-f', '-'], script.join('\n') + '\n');
  // A fault that silently did not apply would make a run prove nothing: read the rules back.
  const listed = capture('ip', ['netns', 'exec', ns, nftPath(), 'list', 'ruleset']);
  if (out.length > 0 && !listed.includes('table inet chaos')) throw new Error(`nft rules did not apply in ${ns}: ${JSON.stringify(listed)}`);
}

/** Limits the node's outgoing bandwidth (queueing then adds delay), or lifts the limit (null). */
export function throttle(ns: string, rateKbit: number | null): void {
  if (rateKbit === null) {
    try {
      run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', 'veth0', 'root']);
    } catch {
      // No qdisc of ours: nothing to lift.
    }
    return;
  }
  if (!Number.isInteger(rateKbit) || rateKbit < 8) throw new RangeError('rateKbit out of range');
  run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', 'veth0', 'root', 'tbf',
    'rate', `${rateKbit}kbit`, 'burst', '4kb', 'latency', '300ms']);
}

/** Takes the node's only link down (unreachable for peers and clients alike) or up. */
export function setLink(ns: string, up: boolean): void {
  run('ip', ['-n', ns, 'link', 'set', 'veth0', up ? 'up' : 'down']);
}

const NFT_PATHS = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft', '/usr/local/sbin/nft'];

/**
 * The nftables binary, by absolute path: under npm and npx, node_modules/.bin comes first in
 * PATH and holds an unrelated `nft` (@vercel/nft, a file tracer) that exits 0 doing nothing.
 */
export function nftPath(): string {
  const found = NFT_PATHS.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`nft not found in ${NFT_PATHS.join(', ')} (apt-get install nftables)`);
  return found;
}

/** True when nftables can be run (partitions and loss need it). */
export function haveNft(): boolean {
  try {
    execFileSync(nftPath(), ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function run(cmd: string, args: readonly string[], input?: string): void {
  capture(cmd, args, input);
}

function capture(cmd: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { stdio: 'pipe', encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? err).trim();
    throw new Error(`${cmd} ${args.join(' ')}: ${stderr}`);
  }
}
