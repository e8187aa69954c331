/**
 * Degraded links between network namespaces: netem semantics (delay, jitter, loss, duplication,
 * reordering, rate; per direction) for the harness's 10.77.0.0/24 namespaces.
 *
 * The kernel's `tc qdisc ... netem` is not used: this CI kernel lacks it (CONFIG_NET_SCH_NETEM is
 * not set; `tc qdisc add ... netem` says "Specified qdisc kind is unknown"). tunlink.c does the
 * same in userspace, seeded, on any kernel with TUN: each namespace gets a TUN device named
 * `veth0` (so assertIsolatedNamespace(['veth0']) and ChaosCluster work unchanged) and tunlink
 * moves packets between them with the faults applied. The namespaces are ours
 * (`seqdbt-<pid>-…`), nothing touches the root namespace's network, and tunlink opens no socket.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BRIDGE_SUBNET, cleanupLeftoverNamespaces, NS_PREFIX, type NetnsNode } from './netns.ts';
import { TS_LOADER_ARG } from './ts-loader.ts';

const SOURCE = fileURLToPath(new URL('./tunlink.c', import.meta.url));

export interface LinkFault {
  readonly lossPct?: number;
  readonly dupPct?: number;
  /** Percent of packets that skip the delay (netem `reorder`); needs delayMs. */
  readonly reorderPct?: number;
  readonly delayMs?: number;
  readonly jitterMs?: number;
  readonly rateKbit?: number;
  /** Packets queued at most (netem `limit`, default 1000). */
  readonly limit?: number;
}

/** Faults of one namespace's link: `egress` is what it sends, `ingress` what it receives. */
export interface NodeFaults {
  readonly egress?: LinkFault;
  readonly ingress?: LinkFault;
}

/** Why degraded links cannot be emulated here, or null when they can. */
export function netemUnavailable(): string | null {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TUN devices)';
  for (const tool of ['ip', 'cc']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
  }
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  if (tunlinkBinary() === null) return 'cannot build tunlink.c';
  return null;
}

let built: string | null | undefined;
export function tunlinkBinary(): string | null {
  if (built !== undefined) return built;
  const source = readFileSync(SOURCE);
  const bin = join(tmpdir(), `seqdb-tunlink-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`);
  if (existsSync(bin)) return (built = bin);
  const building = `${bin}.${process.pid}`;
  const r = spawnSync('cc', ['-O2', '-o', building, SOURCE], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) {
    rmSync(building, { force: true });
    return (built = null);
  }
  renameSync(building, bin);
  return (built = bin);
}

export interface EmulatedNetwork {
  readonly nodes: readonly NetnsNode[];
  /** The control file; a scenario in a namespace changes faults with setFaults(ctlFile, …). */
  readonly ctlFile: string;
  spawn(i: number, script: string, args: readonly string[]): ChildProcess;
  destroy(): void;
}

let count = 0;

/** `n` namespaces joined by tunlink, namespace k at 10.77.0.k on `veth0` (a TUN device). */
export async function createEmulatedNetwork(n: number, seed: number, dir: string): Promise<EmulatedNetwork> {
  const bin = tunlinkBinary();
  if (bin === null) throw new Error('tunlink.c does not build');
  cleanupLeftoverNamespaces();
  const base = `${NS_PREFIX}${process.pid}-e${++count}`;
  const names = Array.from({ length: n }, (_, k) => `${base}-n${k + 1}`);
  const ctlFile = join(dir, 'netem.ctl');
  writeFileSync(ctlFile, '');
  let link: ChildProcess | null = null;
  const destroy = (): void => {
    if (link?.pid !== undefined && link.exitCode === null) link.kill('SIGKILL');
    for (const ns of names) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
      } catch {
        // gone
      }
    }
  };
  process.once('exit', destroy);
  try {
    for (const ns of names) execFileSync('ip', ['netns', 'add', ns], { stdio: 'pipe' });
    link = spawn(bin, [String(seed), ctlFile, ...names], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    link.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tunlink did not start: ${err}`)), 5_000);
      link!.stdout!.once('data', () => { clearTimeout(timer); resolve(); });
      link!.once('exit', (code) => { clearTimeout(timer); reject(new Error(`tunlink exited ${code}: ${err}`)); });
    });
    names.forEach((ns, k) => {
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.veth0.disable_ipv6=1'], { stdio: 'pipe' });
      execFileSync('ip', ['-n', ns, 'addr', 'add', `${BRIDGE_SUBNET}.${k + 1}/24`, 'dev', 'veth0'], { stdio: 'pipe' });
      execFileSync('ip', ['-n', ns, 'link', 'set', 'veth0', 'up'], { stdio: 'pipe' });
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
    });
  } catch (e) {
    destroy();
    throw e;
  }
  const nodes = names.map((ns, k): NetnsNode => ({ ns, address: `${BRIDGE_SUBNET}.${k + 1}`, iface: 'veth0' }));
  return {
    nodes,
    ctlFile,
    spawn: (i, script, args) => {
      const env = { ...process.env, SEQDB_OUTER_NETNS: execFileSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }).trim() };
      return spawn('ip', ['netns', 'exec', nodes[i]!.ns, process.execPath, TS_LOADER_ARG, script, ...args],
        { cwd: join(fileURLToPath(new URL('.', import.meta.url)), '..', '..'), detached: true, env, stdio: ['pipe', 'pipe', 'pipe'] });
    },
    destroy,
  };
}

let generation = 0;

/** Replaces every fault (by 1-based namespace number) and waits until tunlink applied them. */
export async function setFaults(ctlFile: string, faults: ReadonlyMap<number, NodeFaults>): Promise<void> {
  const gen = ++generation + process.pid * 1000;
  const lines = [`gen ${gen}`];
  const fmt = (f: LinkFault): string => `loss=${f.lossPct ?? 0} dup=${f.dupPct ?? 0} reorder=${f.reorderPct ?? 0} delay=${f.delayMs ?? 0} jitter=${f.jitterMs ?? 0} rate=${f.rateKbit ?? 0} limit=${f.limit ?? 0}`;
  for (const [k, f] of faults) {
    if (f.egress !== undefined) lines.push(`${k} egress ${fmt(f.egress)}`);
    if (f.ingress !== undefined) lines.push(`${k} ingress ${fmt(f.ingress)}`);
  }
  writeFileSync(`${ctlFile}.tmp`, lines.join('\n') + '\n');
  renameSync(`${ctlFile}.tmp`, ctlFile);
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    try {
      if (readFileSync(`${ctlFile}.ack`, 'utf8').trim() === String(gen)) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('tunlink did not apply the faults within 5 s');
}

export function linkStats(ctlFile: string): string {
  try {
    return readFileSync(`${ctlFile}.stats`, 'utf8').trim();
  } catch {
    return '';
  }
}
