/**
 * Run test scenarios inside network namespaces the test creates, so multicast (mDNS) and private
 * addresses never touch the machine's real network.
 *
 * Two shapes:
 * - runInPrivateLoopback: `unshare -n`, lo up, one process (any number of 127.x addresses).
 * - createBridgedNetwork: a hub namespace holding a bridge, and N namespaces each with one veth
 *   (`veth0`, 10.77.0.<i>/24) plugged into it. 10.77.0.0/24 exists only inside these namespaces;
 *   the bridge has no address, and nothing is added to the root namespace.
 *
 * A scenario is a .ts script run by `node` with the tests' loader (helpers/ts-loader.ts) inside
 * the namespace; it prints one line `SEQDB-RESULT <json>` (printResult) that the test parses.
 * Scenarios call assertIsolatedNamespace() before sending anything.
 *
 * Needs root (CI runs as root). Where namespaces are unavailable, requireNamespaces() throws
 * with the reason: tests fail, they do not skip.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TS_LOADER_ARG } from './ts-loader.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULT_PREFIX = 'SEQDB-RESULT ';
/** Every namespace a test creates is named `${NS_PREFIX}<pid>-<n>-...`, so leftovers are found. */
export const NS_PREFIX = 'seqdbt-';
/** The /24 used inside bridged namespaces; never configured anywhere else. */
export const BRIDGE_SUBNET = '10.77.0';
export const BRIDGED_NODES_MAX = 32;
/** Set by spawnScenario to the spawner's network namespace (`net:[inode]`). */
export const OUTER_NETNS_ENV = 'SEQDB_OUTER_NETNS';

const DEFAULT_SCENARIO_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Host side: used by ava tests.

/** Throws a clear error when this process cannot create network namespaces. */
export function requireNamespaces(): void {
  if (process.platform !== 'linux') throw new Error('network namespace tests need Linux');
  if (process.getuid?.() !== 0) throw new Error('network namespace tests need root (CI runs as root)');
  try {
    execFileSync('unshare', ['-n', '--', 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`cannot create a network namespace with unshare -n: ${stderrOf(err)}`);
  }
}

export interface ScenarioOptions {
  /** Kill the scenario (its whole process group) after this long. Default 30000. */
  readonly timeoutMs?: number;
}

/** Runs `script args` alone in a fresh namespace with only lo (up); returns its result line. */
export function runInPrivateLoopback<T>(script: string, args: readonly string[], opts: ScenarioOptions = {}): Promise<T> {
  const child = spawnScenario('unshare', ['-n', '--', 'sh', '-c',
    'ip link set lo up && exec "$@"', 'sh', process.execPath, TS_LOADER_ARG, script, ...args]);
  return scenarioResult<T>(child, opts.timeoutMs ?? DEFAULT_SCENARIO_TIMEOUT_MS);
}

export interface NetnsNode {
  readonly ns: string;
  readonly address: string;
  readonly iface: 'veth0';
}

export interface BridgedNetwork {
  readonly nodes: readonly NetnsNode[];
  /** Starts a scenario in node i's namespace; the caller reads it with scenarioResult. */
  spawn(i: number, script: string, args: readonly string[]): ChildProcess;
  /** Deletes every namespace of this network (and so its veths and bridge). Idempotent. */
  destroy(): void;
}

let networkCount = 0;
const liveNamespaces = new Set<string>();
let exitHookInstalled = false;

/** Builds hub + `count` namespaces on one bridge. Deleted by destroy(), or at process exit. */
export function createBridgedNetwork(count: number): BridgedNetwork {
  if (!Number.isInteger(count) || count < 1 || count > BRIDGED_NODES_MAX) throw new RangeError('count out of range');
  cleanupLeftoverNamespaces();
  installExitHook();
  const base = `${NS_PREFIX}${process.pid}-${++networkCount}`;
  const hub = `${base}-hub`;
  const nodes: NetnsNode[] = [];
  const owned: string[] = [hub];
  const destroy = (): void => {
    for (const ns of owned) deleteNamespace(ns);
  };
  try {
    addNamespace(hub);
    ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0', 'stp_state', '0');
    ip('-n', hub, 'link', 'set', 'br0', 'up');
    for (let i = 1; i <= count; i++) {
      const ns = `${base}-n${i}`;
      owned.push(ns);
      addNamespace(ns);
      nodes.push(plugNode(hub, ns, i));
    }
  } catch (err) {
    destroy();
    throw err;
  }
  return {
    nodes,
    spawn: (i, script, args) => {
      const node = nodes[i];
      if (node === undefined) throw new RangeError(`no node ${i}`);
      return spawnScenario('ip', ['netns', 'exec', node.ns, process.execPath, TS_LOADER_ARG, script, ...args]);
    },
    destroy,
  };
}

function plugNode(hub: string, ns: string, i: number): NetnsNode {
  const address = `${BRIDGE_SUBNET}.${i}`;
  ip('-n', hub, 'link', 'add', `vh${i}`, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', ns);
  ip('-n', hub, 'link', 'set', `vh${i}`, 'master', 'br0', 'up');
  // No IPv6 on the test link: keeps interface counters to our own IPv4 traffic.
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.veth0.disable_ipv6=1'], { stdio: 'pipe' });
  ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'veth0');
  ip('-n', ns, 'link', 'set', 'veth0', 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  return { ns, address, iface: 'veth0' };
}

/** Deletes `${NS_PREFIX}<pid>-…` namespaces whose creating process is gone. */
export function cleanupLeftoverNamespaces(): void {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const line of out.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const match = new RegExp(`^${NS_PREFIX}(\\d+)-`).exec(name);
    if (match !== null && !processAlive(Number(match[1]))) deleteNamespace(name);
  }
}

/** Starts a scenario in its own process group, so a timeout can kill all of it. */
export function spawnScenario(command: string, args: readonly string[]): ChildProcess {
  // The scenario compares its namespace with ours (pid 1's may be unreadable in a sandbox).
  const env = { ...process.env, [OUTER_NETNS_ENV]: readlinkSync('/proc/self/ns/net') };
  return spawn(command, args, { cwd: REPO_ROOT, detached: true, env, stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * Resolves with the JSON of the scenario's result line once it exits with status 0; rejects
 * with its stderr otherwise, or on timeout (then its process group is killed).
 */
export function scenarioResult<T>(child: ChildProcess, timeoutMs: number, onLine?: (line: string) => void): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    let result: { value: T } | null = null;
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`scenario timed out after ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const start = stdout.lastIndexOf('\n') + 1;
      stdout += chunk;
      for (const line of stdout.slice(start).split('\n').slice(0, -1)) {
        if (line.startsWith(RESULT_PREFIX) && result === null) result = { value: JSON.parse(line.slice(RESULT_PREFIX.length)) as T };
        onLine?.(line);
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && result !== null) resolvePromise(result.value);
      else reject(new Error(`scenario exited with ${code ?? signal}${result === null ? ' and no result line' : ''}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    });
  });
}

export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function addNamespace(ns: string): void {
  ip('netns', 'add', ns);
  liveNamespaces.add(ns);
}

function deleteNamespace(ns: string): void {
  liveNamespaces.delete(ns);
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
  } catch {
    // Already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const ns of [...liveNamespaces]) deleteNamespace(ns);
  });
}

function ip(...args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`ip ${args.join(' ')}: ${stderrOf(err)}`);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function stderrOf(err: unknown): string {
  const stderr = (err as { stderr?: Buffer | string }).stderr;
  return stderr !== undefined && String(stderr).trim() !== '' ? String(stderr).trim() : String(err);
}

// ---------------------------------------------------------------------------------------------
// Scenario side: used by scripts running inside a namespace.

/**
 * Refuses to go on unless this process is in a network namespace other than the machine's
 * (pid 1's) and every interface in it is in `allowed` (lo is always allowed). Call it before
 * sending any multicast.
 */
export function assertIsolatedNamespace(allowed: readonly string[] = []): void {
  const own = readlinkSync('/proc/self/ns/net');
  const outer = process.env[OUTER_NETNS_ENV];
  if (outer === undefined || outer === '') throw new Error(`refusing to run: ${OUTER_NETNS_ENV} is not set (start scenarios with the helpers)`);
  if (own === outer) throw new Error(`refusing to run: still in the caller's network namespace (${own})`);
  const names = interfaceNames();
  const stray = names.filter((n) => n !== 'lo' && !allowed.includes(n));
  if (stray.length > 0) throw new Error(`refusing to run: unexpected interfaces ${stray.join(', ')}`);
}

/** Interface names in the current namespace, from netlink (sysfs may show another namespace). */
export function interfaceNames(): string[] {
  const out = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() !== '').map((l) => (l.split(':')[1] ?? '').trim().split('@')[0] ?? '');
}

/** Transmitted packets of an interface, from its kernel counters. */
export function txPackets(iface: string): number {
  return Number(readFileSync(`/proc/net/dev`, 'utf8').split('\n')
    .find((l) => l.trim().startsWith(`${iface}:`))?.split(':')[1]?.trim().split(/\s+/)[9] ?? NaN);
}

/** Interfaces that joined `groupHex` (as /proc/net/igmp writes it, e.g. FB0000E0 = 224.0.0.251). */
export function igmpMembers(groupHex: string): string[] {
  const members: string[] = [];
  let device = '';
  for (const line of readFileSync('/proc/net/igmp', 'utf8').split('\n').slice(1)) {
    const head = /^\d+\s+(\S+)\s*:/.exec(line);
    if (head !== null) device = head[1] ?? '';
    else if (line.trim().split(/\s+/)[0] === groupHex) members.push(device);
  }
  return members;
}

export function printResult(value: unknown): void {
  process.stdout.write(RESULT_PREFIX + JSON.stringify(value) + '\n');
}
