/**
 * A cluster of real `seqdb node` processes, each in its own network namespace on the harness's
 * bridge (test/helpers/netns.ts), driven from a process inside another namespace of that bridge:
 * start, kill -9, restart, SIGSTOP/SIGCONT, partitions, loss, slow links, leader transfer, and
 * removing a node then adding it back with a fresh identity.
 *
 * Every node listens on NODE_PORT at its own 10.77.0.x address. Node output goes to
 * <runDir>/n<i>.log. shutdown() kills every process this cluster started.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ioFaultLibrary } from '../helpers/io-fault.ts';
import { netFlipLibrary } from '../helpers/net-flip.ts';
import { REPO_ROOT, type NetnsNode } from '../helpers/netns.ts';
import { applyDrops, type DropRules, NO_DROPS, setLink, throttle } from './net-faults.ts';
import { RespConn } from './resp-conn.ts';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

/** Offsets a process's Date.now by the number in SEQDB_CLOCK_OFFSET_FILE, re-read every 50 ms. */
const CLOCK_HOOK = join(REPO_ROOT, 'test', 'helpers', 'clock-offset.mjs');

export const NODE_PORT = 7379;
/** The `wire-flip` fault changes one in this many of the target's writes to other nodes. */
const WIRE_FLIP_EVERY = 20;

export type NodeState = 'running' | 'paused' | 'dead' | 'removed';

/** How often (log indexes) chaos nodes digest and compare their states. */
const STATE_CHECK_ENTRIES = 200;

export interface ChaosNode {
  readonly index: number;
  readonly shard: string;
  readonly ns: string;
  readonly address: string;
  readonly addr: string;
  readonly dataDir: string;
  readonly logPath: string;
  state: NodeState;
  nodeId: string | null;
  child: ChildProcess | null;
  drops: DropRules;
  linkUp: boolean;
  throttledKbit: number | null;
}

export interface ClusterOptions {
  /** Namespaces for the nodes, shard by shard: shard k gets nodes [k*perShard, (k+1)*perShard). */
  readonly namespaces: readonly NetnsNode[];
  readonly shards: number;
  readonly runDir: string;
  /** Raft tick and election timeout in ticks, passed to every node. Defaults: the node's. */
  readonly tickMs?: number;
  readonly electionTicks?: number;
  /** `--snapshot-entries` for every node (default: the node's). */
  readonly snapshotEntries?: number;
  readonly log: (line: string) => void;
  /**
   * What runs as a node: the real `seqdb node` (default), or 'broken' (broken-node.ts: no
   * replication at all), to show that the test bed catches a wrong system.
   */
  readonly system?: 'seqdb' | 'broken';
  /**
   * One sharded cluster (routers in front; shard "1" holds the catalog; shards are "1".."N")
   * instead of independent shards "s0".."sN-1". Default false.
   */
  readonly sharded?: boolean;
  /** Sharded only: shards started later (startShards), which the catalog does not wait for. Default 0. */
  readonly lateShards?: number;
  /**
   * Each node's data dir on a tmpfs of this many MiB of its own (the `disk-full` fault fills one),
   * mounted in the run's mount namespace (`ip netns exec` gives the run one; nothing reaches the
   * host, and the file systems go with the run). Default: none, the data dirs are plain dirs.
   */
  readonly diskMiB?: number;
}

export class ChaosCluster {
  readonly nodes: ChaosNode[] = [];
  readonly shardIds: string[] = [];
  readonly #o: ClusterOptions;
  readonly #perShard: number;

  constructor(o: ClusterOptions) {
    if (o.shards < 1 || o.namespaces.length % o.shards !== 0) throw new RangeError('namespaces must split evenly into shards');
    this.#o = o;
    this.#perShard = o.namespaces.length / o.shards;
    mkdirSync(o.runDir, { recursive: true });
    o.namespaces.forEach((n, index) => {
      const k = Math.floor(index / this.#perShard);
      const shard = o.sharded === true ? String(k + 1) : `s${k}`;
      if (!this.shardIds.includes(shard)) this.shardIds.push(shard);
      this.nodes.push({
        index, shard, ns: n.ns, address: n.address, addr: `${n.address}:${NODE_PORT}`,
        dataDir: join(o.runDir, `n${index}`), logPath: join(o.runDir, `n${index}.log`),
        state: 'dead', nodeId: null, child: null, drops: NO_DROPS, linkUp: true, throttledKbit: null,
      });
    });
    // Before any node starts: a node's own mount namespace (its `ip netns exec`) copies ours.
    if (o.diskMiB !== undefined) for (const n of this.nodes) mountTmpfs(n.dataDir, o.diskMiB);
  }

  shardNodes(shard: string): ChaosNode[] {
    return this.nodes.filter((n) => n.shard === shard);
  }

  /** Starts every node (forming each shard) and waits until each shard's leader counts all its voters. */
  async startAll(timeoutMs = 60_000): Promise<void> {
    await this.startShards(this.shardIds, timeoutMs);
  }

  /** Starts the nodes of `shards` and waits until each shard's leader counts all its voters. */
  async startShards(shards: readonly string[], timeoutMs = 60_000): Promise<void> {
    for (const n of this.nodes) if (shards.includes(n.shard)) this.#spawn(n, true);
    const deadline = Date.now() + timeoutMs;
    for (const shard of shards) {
      while ((await this.voters(shard)) < this.#perShard) {
        if (Date.now() > deadline) throw new Error(`shard ${shard} did not form with ${this.#perShard} voters in ${timeoutMs} ms\n${this.logTails()}`);
        await sleep(200);
      }
    }
    // Every node answering too: a voter list can name nodes still starting (the broken system's
    // nodes list every --join address at once), and clients that find their node down move on
    // and may all end up on one node, which hides exactly what the broken system must show.
    for (const n of this.nodes.filter((m) => shards.includes(m.shard))) {
      while ((await this.info(n.index)) === null) {
        if (Date.now() > deadline) throw new Error(`node ${n.index} does not answer INFO after ${timeoutMs} ms\n${this.logTails()}`);
        await sleep(100);
      }
    }
  }

  /** Voters in the current leader's configuration (0 without a leader). */
  async voters(shard: string): Promise<number> {
    const l = await this.leader(shard);
    const info = l === null ? null : await this.info(l.index);
    return (info?.members ?? '').split(',').filter((m) => m.includes('/voter/')).length;
  }

  kill(i: number): void {
    const n = this.#node(i);
    if (n.child === null) return;
    if (n.state === 'paused') n.child.kill('SIGCONT');
    n.child.kill('SIGKILL');
    n.state = 'dead';
  }

  /** Restarts a killed node on its data dir. */
  restart(i: number): void {
    const n = this.#node(i);
    if (n.state !== 'dead') return;
    this.#spawn(n, false);
  }

  pause(i: number): void {
    const n = this.#node(i);
    if (n.state !== 'running' || n.child === null) return;
    n.child.kill('SIGSTOP');
    n.state = 'paused';
  }

  resume(i: number): void {
    const n = this.#node(i);
    if (n.state !== 'paused' || n.child === null) return;
    n.child.kill('SIGCONT');
    n.state = 'running';
  }

  /** Cuts the shard's nodes into groups that cannot talk to each other (clients still reach all). */
  partition(groups: ReadonlyArray<readonly number[]>): void {
    const groupOf = new Map<number, number>();
    groups.forEach((g, k) => g.forEach((i) => groupOf.set(i, k)));
    for (const [i, k] of groupOf) {
      const blocked = [...groupOf].filter(([j, kj]) => kj !== k && j !== i).map(([j]) => this.#node(j).address);
      this.#setDrops(i, { ...this.#node(i).drops, blocked });
    }
  }

  /** Node i drops everything from and to `addresses` (the clients': a cut between them and it); [] heals. */
  cutOffFrom(i: number, addresses: readonly string[]): void {
    this.#setDrops(i, { ...this.#node(i).drops, blocked: [...addresses] });
  }

  /** Jepsen's "bridge": `middle` talks to both halves, the halves not to each other. */
  bridge(left: readonly number[], middle: number, right: readonly number[]): void {
    const addr = (ids: readonly number[]): string[] => ids.map((j) => this.#node(j).address);
    for (const i of left) this.#setDrops(i, { ...this.#node(i).drops, blocked: addr(right) });
    for (const i of right) this.#setDrops(i, { ...this.#node(i).drops, blocked: addr(left) });
    this.#setDrops(middle, { ...this.#node(middle).drops, blocked: [] });
  }

  setLoss(i: number, lossPercent: number): void {
    this.#setDrops(i, { ...this.#node(i).drops, lossPercent });
  }

  throttle(i: number, rateKbit: number | null): void {
    const n = this.#node(i);
    throttle(n.ns, rateKbit);
    n.throttledKbit = rateKbit;
  }

  setLink(i: number, up: boolean): void {
    const n = this.#node(i);
    setLink(n.ns, up);
    n.linkUp = up;
  }

  /** Undoes every network fault on every node. */
  healNetwork(): void {
    for (const n of this.nodes) {
      if (n.drops !== NO_DROPS) this.#setDrops(n.index, NO_DROPS);
      if (n.throttledKbit !== null) this.throttle(n.index, null);
      if (!n.linkUp) this.setLink(n.index, true);
    }
  }

  /** Network healed, disks healed, paused nodes resumed, killed nodes restarted (removed ones stay out). */
  healAll(): void {
    this.healNetwork();
    for (const n of this.nodes) this.failDisk(n.index, false);
    for (const n of this.nodes) this.flipWire(n.index, false);
    // A fill whose fault recorded no target (it failed half-way) is undone here at the latest.
    if (this.#o.diskMiB !== undefined) for (const n of this.nodes) rmSync(join(n.dataDir, FILLER), { force: true });
    for (const n of this.nodes) {
      if (n.state === 'paused') this.resume(n.index);
      else if (n.state === 'dead') this.restart(n.index);
    }
  }

  /** INFO of node i as key/value pairs, or null if it did not answer in time; `kept`: a connection the caller keeps open. */
  async info(i: number, timeoutMs = 500, kept?: RespConn): Promise<Record<string, string> | null> {
    const n = this.#node(i);
    const conn = kept ?? new RespConn(n.address, NODE_PORT);
    try {
      const r = await conn.call(['INFO'], timeoutMs);
      if (r.kind !== 'reply' || r.reply.kind !== 'string') return null;
      const out: Record<string, string> = {};
      for (const line of r.reply.value.toString('utf8').split(/\r?\n/)) {
        const at = line.indexOf(':');
        if (at > 0) out[line.slice(0, at)] = line.slice(at + 1);
      }
      if (out.node_id !== undefined) n.nodeId = out.node_id;
      return out;
    } finally {
      if (kept === undefined) conn.close();
    }
  }

  /** The running node that says it leads the shard with the highest term, or null. */
  async leader(shard: string): Promise<ChaosNode | null> {
    const live = this.shardNodes(shard).filter((n) => n.state === 'running');
    const infos = await Promise.all(live.map((n) => this.info(n.index)));
    let best: { n: ChaosNode; term: number } | null = null;
    infos.forEach((info, k) => {
      if (info?.role !== 'leader') return;
      const term = Number(info.term);
      if (best === null || term > best.term) best = { n: live[k]!, term };
    });
    return (best as { n: ChaosNode } | null)?.n ?? null;
  }

  async waitForLeader(shard: string, timeoutMs: number): Promise<ChaosNode | null> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const l = await this.leader(shard);
      if (l !== null) return l;
      await sleep(200);
    }
    return null;
  }

  /** Asks the shard's leader to hand leadership to node `to`. Returns the reply text. */
  async transferLeader(shard: string, to: number): Promise<string> {
    const target = this.#node(to);
    if (target.nodeId === null) await this.info(to);
    if (target.nodeId === null) return 'target node id unknown';
    return this.#onLeader(shard, ['SEQDB.TRANSFER', target.nodeId]);
  }

  /** Removes node i from its shard (through the leader), then kills it and wipes its data. */
  async removeNode(i: number): Promise<string> {
    const n = this.#node(i);
    if (n.nodeId === null) await this.info(i);
    if (n.nodeId === null) return 'node id unknown';
    const reply = await this.#onLeader(n.shard, ['SEQDB.REMOVE', n.nodeId]);
    if (!reply.startsWith('OK')) return reply;
    this.kill(i);
    await sleep(200);
    // Emptied, not removed: it may be a mount point (a tmpfs of its own).
    for (const entry of readdirSync(n.dataDir)) rmSync(join(n.dataDir, entry), { recursive: true, force: true });
    n.state = 'removed';
    n.nodeId = null;
    return reply;
  }

  /** Starts a removed node again on an empty data dir: it joins its shard as a new member. */
  addBack(i: number): void {
    const n = this.#node(i);
    if (n.state !== 'removed') return;
    this.#spawn(n, false);
  }

  /** Kills every process this cluster started (resuming paused ones first) and waits for them. */
  async shutdown(): Promise<void> {
    const exits: Promise<void>[] = [];
    for (const n of this.nodes) {
      const child = n.child;
      if (child === null || child.exitCode !== null || child.signalCode !== null) continue;
      exits.push(new Promise((r) => child.once('exit', () => r())));
      n.state = 'dead';
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await Promise.race([Promise.all(exits), sleep(5_000)]);
  }

  logTails(bytes = 2_000): string {
    return this.nodes.map((n) => {
      let text = '';
      try {
        text = readFileSync(n.logPath, 'utf8').slice(-bytes);
      } catch {
        text = '(no log)';
      }
      return `--- node ${n.index} ${n.addr} (${n.state}) ---\n${text}`;
    }).join('\n');
  }

  async #onLeader(shard: string, args: readonly string[]): Promise<string> {
    const leader = await this.leader(shard);
    if (leader === null) return 'no leader';
    const conn = new RespConn(leader.address, NODE_PORT);
    try {
      const r = await conn.call(args, 5_000);
      if (r.kind !== 'reply') return `${r.kind}: ${r.error}`;
      const reply = r.reply;
      if (reply.kind === 'string') return reply.value.toString('utf8');
      if (reply.kind === 'error') return `${reply.word} ${reply.message}`;
      return reply.kind;
    } finally {
      conn.close();
    }
  }

  /** Steps node i's wall clock `offsetMs` away from the true time (0: back); its timers are untouched. */
  setClock(i: number, offsetMs: number): void {
    writeFileSync(this.#clockFile(this.nodes[i]!), String(offsetMs));
  }

  /**
   * From now on (or no longer) node i's writes and syncs of its data dir's files fail with EIO,
   * with `how` 'stall' block until healed, with 'tear' its next write of whole sectors is torn
   * part-way and the node dies inside it (io-fault.c, loaded into every node where a C compiler
   * built it). A healed node that stopped is restarted by the caller.
   */
  failDisk(i: number, failing: boolean, how: 'fail' | 'stall' | 'tear' = 'fail'): void {
    const trigger = this.#diskFaultFile(this.#node(i));
    if (!failing) return rmSync(trigger, { force: true });
    // Renamed into place: a node's call that looks while it is being written would read it
    // empty (fail) instead of stall or tear.
    writeFileSync(`${trigger}.tmp`, how === 'fail' ? '' : how);
    renameSync(`${trigger}.tmp`, trigger);
  }

  /**
   * Fills node i's disk (its tmpfs, `diskMiB`) with a file that leaves `leaveBytes` free (0: full),
   * or removes that file. The node refuses writes below its reserve (64 MiB by default), or, with
   * nothing left, fails the write it is in.
   */
  async fillDisk(i: number, filling: boolean, leaveBytes = 0): Promise<void> {
    // Only a disk of the node's own: never the file system the run's directory is on.
    if (this.#o.diskMiB === undefined) throw new Error('fillDisk needs diskMiB (each node on a tmpfs of its own)');
    const n = this.#node(i);
    const filler = join(n.dataDir, FILLER);
    if (!filling) return rmSync(filler, { force: true });
    const s = statfsSync(n.dataDir);
    const size = s.bavail * s.bsize - leaveBytes;
    if (size <= 0) return;
    // fallocate takes the space at once (writing 500 MB took the nemesis seconds on a loaded box,
    // eating the fault's window); where it cannot, writes do, the last one stopped by ENOSPC.
    const allocated = await new Promise<boolean>((resolve) => execFile('fallocate', ['-l', String(size), filler], (err) => resolve(err === null)));
    if (allocated) return;
    const file = await open(filler, 'w');
    try {
      const chunk = Buffer.alloc(16 << 20);
      for (let left = size; left > 0; left -= chunk.length) await file.write(chunk, 0, Math.min(chunk.length, left));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      await file.close();
    }
  }

  #diskFaultFile(n: ChaosNode): string {
    return `${n.logPath}.disk-fail`;
  }

  #wireFlipFile(n: ChaosNode): string {
    return `${n.logPath}.wire-flip`;
  }

  /**
   * From now on (or no longer) one in WIRE_FLIP_EVERY of node i's writes to other nodes leaves
   * with a bit flipped past TCP's checksum (net-flip.c, loaded into every node where a C compiler
   * built it): its hello lines, handshakes, Raft frames and control requests.
   */
  flipWire(i: number, flipping: boolean): void {
    const trigger = this.#wireFlipFile(this.#node(i));
    if (!flipping) return rmSync(trigger, { force: true });
    writeFileSync(`${trigger}.tmp`, `${NODE_PORT}\n`);
    renameSync(`${trigger}.tmp`, trigger);
  }

  #clockFile(n: ChaosNode): string {
    return `${n.logPath}.clock`;
  }

  #spawn(n: ChaosNode, bootstrap: boolean): void {
    const join = this.shardNodes(n.shard).map((m) => m.addr).join(',');
    const args = [
      'netns', 'exec', n.ns, process.execPath,
      ...(this.#o.system === 'broken' ? [TS_LOADER_ARG, 'test/chaos/broken-node.ts'] : ['bin/seqdb.js', 'node']),
      '--shard', n.shard, '--host', n.address, '--port', String(NODE_PORT), '--data', n.dataDir, '--join', join,
      ...(bootstrap ? ['--bootstrap-expect', String(this.#perShard)] : []),
      ...(this.#o.sharded === true ? ['--catalog', this.shardNodes('1').map((m) => m.addr).join(',')] : []),
      ...(this.#o.sharded === true && n.shard === '1' ? ['--shards-expect', String(this.shardIds.length - (this.#o.lateShards ?? 0))] : []),
      ...(this.#o.tickMs !== undefined ? ['--tick-ms', String(this.#o.tickMs)] : []),
      ...(this.#o.electionTicks !== undefined ? ['--election-ticks', String(this.#o.electionTicks)] : []),
      ...(this.#o.snapshotEntries !== undefined ? ['--snapshot-entries', String(this.#o.snapshotEntries)] : []),
      // Replicas compare digests of their states often: any difference fails the run (cli.ts).
      ...(this.#o.system === 'broken' ? [] : ['--state-check-entries', String(STATE_CHECK_ENTRIES)]),
    ];
    const fd = openSync(n.logPath, 'a');
    // Its wall clock can be stepped (the `clock` fault): Date.now offset by a file it re-reads.
    if (!existsSync(this.#clockFile(n))) writeFileSync(this.#clockFile(n), '0');
    const env = this.#o.system === 'broken' ? process.env : { ...process.env, NODE_OPTIONS: `--import=${CLOCK_HOOK}`, SEQDB_CLOCK_OFFSET_FILE: this.#clockFile(n), ...this.#diskFaultEnv(n) };
    // `ip netns exec` execs node in place, so the child's pid is the node's: signals reach it.
    const child = spawn('ip', args, { cwd: REPO_ROOT, stdio: ['ignore', fd, fd], env });
    closeSync(fd);
    n.child = child;
    n.state = 'running';
    child.once('exit', (code, signal) => {
      if (n.child !== child) return;
      n.child = null;
      if (n.state === 'running' || n.state === 'paused') {
        n.state = 'dead';
        this.#o.log(`node ${n.index} exited on its own (${code ?? signal})`);
      }
    });
  }

  /**
   * Its disk can fail (the `disk-fail` fault) and its writes to other nodes can be changed on the
   * wire (`wire-flip`), where the fault libraries can be built.
   */
  #diskFaultEnv(n: ChaosNode): Record<string, string> {
    const lib = ioFaultLibrary();
    const flip = netFlipLibrary();
    if (lib === null || flip === null) return {};
    return {
      LD_PRELOAD: `${lib}:${flip}`, SEQDB_FAULT_MATCH: `${n.dataDir}/`, SEQDB_FAULT_TRIGGER: this.#diskFaultFile(n),
      SEQDB_FLIP_TRIGGER: this.#wireFlipFile(n), SEQDB_FLIP_EVERY: String(WIRE_FLIP_EVERY), SEQDB_FLIP_SEED: String(n.index + 1),
    };
  }

  #setDrops(i: number, rules: DropRules): void {
    const n = this.#node(i);
    const next = rules.blocked.length === 0 && rules.lossPercent === 0 ? NO_DROPS : rules;
    applyDrops(n.ns, next);
    n.drops = next;
  }

  #node(i: number): ChaosNode {
    const n = this.nodes[i];
    if (n === undefined) throw new RangeError(`no node ${i}`);
    return n;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The file a `disk-full` fault fills a node's disk with. */
const FILLER = 'chaos-filler';

function mountTmpfs(dir: string, mib: number): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', dir], { stdio: 'pipe' });
}
