/**
 * Real `seqdb node` processes on loopback for replication tests: free ports, a temp dir per
 * node, SIGKILL of everything on teardown. Plus a retrying INC client that follows NOTLEADER and
 * records a history (invoke/ack times, values) for the INC checker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { exitWithParent } from '../../helpers/exit-with-parent.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../helpers/port-range.ts';
import { RespClient, encodeRequest } from '../../helpers/resp-client.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Teardown {
  teardown(fn: () => unknown): void;
  log(...values: unknown[]): void;
}

export { freePort };

export interface NodeProc {
  readonly index: number;
  readonly port: number;
  readonly addr: string;
  readonly dataDir: string;
  child: ChildProcess | null;
  output: string;
  /** The checkout whose bin/seqdb.js it runs (another build's); default this one. */
  readonly root?: string;
}

export interface ClusterOptions {
  readonly size: number;
  readonly extraArgs?: readonly string[];
  /** Extra environment of node i's first start. */
  readonly envOf?: (index: number) => Record<string, string>;
  /** Extra arguments of node i's first start (after extraArgs). */
  readonly argsOf?: (index: number) => readonly string[];
  /**
   * A tmpfs of this size (`40m`) as node i's data dir, mounted in a mount namespace of its own
   * (needs root): a small disk for that node alone. The test reaches its files through
   * `/proc/<pid>/root<dataDir>`; a restart starts on an empty one.
   */
  readonly tmpfsOf?: (index: number) => string | undefined;
  /** The checkout node i runs from (another build of SeqDB); default this one. */
  readonly rootOf?: (index: number) => string | undefined;
}

export class Cluster {
  readonly nodes: NodeProc[] = [];
  private constructor(readonly joinList: string, private readonly extraArgs: readonly string[], private readonly tmpfsOf?: (index: number) => string | undefined) {}

  static async start(t: Teardown, o: ClusterOptions): Promise<Cluster> {
    const base = await mkdtemp(join(tmpdir(), 'seqdb-repl-'));
    const ports: number[] = [];
    while (ports.length < o.size) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const c = new Cluster(ports.map((p) => `127.0.0.1:${p}`).join(','), o.extraArgs ?? [], o.tmpfsOf);
    ports.forEach((port, index) => {
      const root = o.rootOf?.(index);
      c.nodes.push({ index, port, addr: `127.0.0.1:${port}`, dataDir: join(base, `n${index}`), child: null, output: '', ...(root !== undefined ? { root } : {}) });
    });
    t.teardown(async () => {
      for (const n of c.nodes) c.kill(n.index, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
      await rm(base, { recursive: true, force: true });
    });
    for (const n of c.nodes) c.spawn(n.index, ['--bootstrap-expect', String(o.size), ...(o.argsOf?.(n.index) ?? [])], o.envOf?.(n.index));
    return c;
  }

  /** A new node (fresh data dir, free port) started with --join to the existing ones; `root` as ClusterOptions.rootOf. */
  async addNode(env: Record<string, string> = {}, root?: string): Promise<number> {
    const port = await freePort();
    const index = this.nodes.length;
    const dataDir = join(this.nodes[0]!.dataDir, '..', `n${index}`);
    this.nodes.push({ index, port, addr: `127.0.0.1:${port}`, dataDir, child: null, output: '', ...(root !== undefined ? { root } : {}) });
    this.spawn(index, [], env);
    return index;
  }

  spawn(i: number, args: readonly string[] = [], env: Record<string, string> = {}): void {
    const n = this.nodes[i]!;
    const argv = [process.execPath, 'bin/seqdb.js', 'node', '--shard', 's1', '--host', '127.0.0.1', '--port', String(n.port),
      '--data', n.dataDir, '--join', this.joinList, ...this.extraArgs, ...args];
    const tmpfs = this.tmpfsOf?.(i);
    // unshare and sh exec into the node: the child's pid is the node's.
    const [file, ...rest] = tmpfs === undefined ? argv : ['unshare', '-m', '--propagation', 'private', 'sh', '-c',
      `mkdir -p '${n.dataDir}' && mount -t tmpfs -o size=${tmpfs} tmpfs '${n.dataDir}' && exec "$@"`, 'sh', ...argv];
    const child = spawn(file!, rest, exitWithParent('node', { cwd: n.root ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
    n.child = child;
    const onData = (d: Buffer): void => {
      n.output += d.toString();
      if (n.output.length > 1 << 20) n.output = n.output.slice(-(1 << 19));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', () => {
      if (n.child === child) n.child = null;
    });
  }

  kill(i: number, signal: NodeJS.Signals): void {
    const child = this.nodes[i]!.child;
    // The exit handler clears n.child; SIGSTOP/SIGCONT keep it.
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
  }

  alive(): NodeProc[] {
    return this.nodes.filter((n) => n.child !== null);
  }

  async info(i: number, timeoutMs = 1000): Promise<Record<string, string> | null> {
    try {
      const reply = await command(this.nodes[i]!.port, ['INFO'], timeoutMs);
      const out: Record<string, string> = {};
      for (const line of reply.split('\r\n')) {
        const at = line.indexOf(':');
        if (at > 0) out[line.slice(0, at)] = line.slice(at + 1);
      }
      return out;
    } catch {
      return null;
    }
  }

  /**
   * INFO of node i, asked again until it answers (a loaded CI box let one ask time out); each
   * ask waits askMs (default: info's).
   */
  async infoSoon(i: number, withinMs = 15_000, askMs?: number): Promise<Record<string, string>> {
    for (const until = Date.now() + withinMs; ;) {
      const info = await this.info(i, askMs);
      if (info !== null) return info;
      if (Date.now() > until) throw new Error(`node ${i} did not answer INFO within ${withinMs} ms\n${this.dump()}`);
      await sleep(200);
    }
  }

  /** Polls until one live node is leader with `voters` voters; returns its index. */
  async waitForLeader(voters: number, timeoutMs = 30_000, among = this.alive().map((n) => n.index)): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const i of among) {
        const info = await this.info(i, 500);
        if (info?.role !== 'leader') continue;
        const count = (info.members ?? '').split(',').filter((m) => m.includes('/voter/')).length;
        if (count === voters) return i;
      }
      await sleep(100);
    }
    throw new Error(`no leader with ${voters} voters within ${timeoutMs} ms\n${this.dump()}`);
  }

  /**
   * Makes a node other than `not` the leader (an "older" member stood in for by this build must
   * not lead: it would run what an older build could not); returns the leader's index.
   */
  async leaderOtherThan(not: number, voters: number): Promise<number> {
    const leader = await this.waitForLeader(voters);
    if (leader !== not) return leader;
    const others = this.alive().map((n) => n.index).filter((i) => i !== not);
    const target = (await this.info(others[0]!))!.node_id!;
    // A transfer right after the shard formed may find the target not caught up yet: it answers
    // -TRYAGAIN then (raft-engine.ts), so ask again, a bounded number of times.
    const replies: string[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const reply = (await command(this.nodes[not]!.port, ['SEQDB.TRANSFER', target], 5000).catch((err: Error) => err.message)).trim();
      replies.push(reply);
      if (reply === '+OK') break;
      await sleep(300);
    }
    return this.waitForLeader(voters, 10_000, others).catch((err: Error) => {
      throw new Error(`transfer replies: ${replies.join(' | ')}\n${err.message}`);
    });
  }

  /** Polls until node i has applied at least `index`. */
  async waitApplied(i: number, index: number, timeoutMs = 30_000): Promise<Record<string, string>> {
    const deadline = Date.now() + timeoutMs;
    let last: Record<string, string> | null = null;
    while (Date.now() < deadline) {
      last = await this.info(i, 500);
      if (last && Number(last.applied_index) >= index) return last;
      await sleep(100);
    }
    throw new Error(`node ${i} did not apply ${index}: ${JSON.stringify(last)}\n${this.dump()}`);
  }

  /**
   * Polls until every live node has heard every member announce its features (INFO incs:on),
   * so any of them, as leader, serves series commands at once. A brand-new shard whose leader
   * dies before a follower ever asked it waits (TRYAGAIN) until that node is back: nothing else
   * says which version it ran.
   */
  async waitFeatures(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const n of this.alive()) {
      while ((await this.info(n.index, 500))?.incs !== 'on') {
        if (Date.now() > deadline) throw new Error(`node ${n.index} never heard every member announce its features\n${this.dump()}`);
        await sleep(100);
      }
    }
  }

  dump(): string {
    return this.nodes.map((n) => `--- node ${n.index} (${n.addr}) ---\n${n.output.slice(-3000)}`).join('\n');
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One command on a fresh connection; resolves with the reply's wire text. */
export async function command(port: number, args: readonly string[], timeoutMs = 1000): Promise<string> {
  const c = await withTimeout(RespClient.connect(port), timeoutMs);
  try {
    c.write(encodeRequest(...args));
    return await c.next(timeoutMs);
  } finally {
    c.socket.destroy();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    p.then((v) => (clearTimeout(timer), resolve(v)), (e) => (clearTimeout(timer), reject(e)));
  });
}

export interface IncOp {
  readonly client: number;
  readonly token: string;
  readonly invokeMs: number;
  ackMs: number;
  value: bigint | null;
  attempts: number;
}

/**
 * A client that INCs with an ID token and retries the same token until it gets a number:
 * NOTLEADER -> the named leader, anything else (error, timeout, closed) -> the next node.
 */
export class RetryingIncClient {
  private conn: RespClient | null = null;
  private port: number;
  readonly errors: string[] = [];

  constructor(private readonly id: number, private readonly ports: readonly number[], private readonly callTimeoutMs = 1000) {
    this.port = ports[id % ports.length]!;
  }

  async inc(bucket: string, seq: string, opNo: number, deadlineMs: number): Promise<IncOp> {
    const op: IncOp = { client: this.id, token: `c${this.id}-o${opNo}`, invokeMs: Date.now(), ackMs: 0, value: null, attempts: 0 };
    while (Date.now() < deadlineMs) {
      op.attempts++;
      const reply = await this.call(['INC', bucket, seq, 'ID', op.token]);
      if (reply !== null && reply.startsWith(':')) {
        op.value = BigInt(reply.slice(1).trim());
        op.ackMs = Date.now();
        return op;
      }
      this.errors.push(`${this.port}: ${reply?.trim() ?? 'no reply'}`);
      if (this.errors.length > 1000) this.errors.splice(0, 500);
      const leader = reply?.match(/^-NOTLEADER \S+ (\S+):(\d+)/);
      if (leader && this.ports.includes(Number(leader[2])) && Number(leader[2]) !== this.port) {
        this.switchTo(Number(leader[2]));
        continue;
      }
      this.switchTo(this.ports[(this.ports.indexOf(this.port) + 1) % this.ports.length]!);
      await sleep(reply?.startsWith('-NOTLEADER') ? 30 : 50);
    }
    return op;
  }

  close(): void {
    this.conn?.socket.destroy();
    this.conn = null;
  }

  private switchTo(port: number): void {
    this.close();
    this.port = port;
  }

  private async call(args: string[]): Promise<string | null> {
    try {
      if (!this.conn || this.conn.socket.destroyed) this.conn = await withTimeout(RespClient.connect(this.port), this.callTimeoutMs);
      this.conn.write(encodeRequest(...args));
      return await this.conn.next(this.callTimeoutMs);
    } catch {
      this.close();
      return null;
    }
  }
}

/**
 * The INC-only history check (../shared/notes/raft.md): acknowledged values distinct, real-time
 * order respected, and — since every op retried its token to success — the values are exactly
 * start+1..start+n. Returns a list of violations (empty when the history is correct).
 */
export function checkIncHistory(ops: readonly IncOp[], start = 0n): string[] {
  const problems: string[] = [];
  const ok = ops.filter((o) => o.value !== null);
  if (ops.length > 0 && ok.length === 0) problems.push(`none of ${ops.length} INCs was acknowledged: nothing was checked`);
  const seen = new Map<bigint, IncOp>();
  for (const o of ok) {
    const prev = seen.get(o.value!);
    if (prev) problems.push(`value ${o.value} acknowledged twice: ${prev.token} and ${o.token}`);
    seen.set(o.value!, o);
  }
  const values = [...seen.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== start + BigInt(i + 1)) {
      problems.push(`gap: expected ${start + BigInt(i + 1)}, found ${values[i]}`);
      break;
    }
  }
  // Real time: if a was acknowledged before b was invoked, a's value is smaller.
  const byAck = [...ok].sort((a, b) => a.ackMs - b.ackMs);
  const byInvoke = [...ok].sort((a, b) => a.invokeMs - b.invokeMs);
  let maxAcked = start;
  let j = 0;
  for (const b of byInvoke) {
    while (j < byAck.length && byAck[j]!.ackMs < b.invokeMs) {
      if (byAck[j]!.value! > maxAcked) maxAcked = byAck[j]!.value!;
      j++;
    }
    if (b.value! <= maxAcked) problems.push(`real-time order: ${b.token}=${b.value} invoked after a value ${maxAcked} was acknowledged`);
  }
  // One client's INCs run one after another (ops are recorded in completion order), so their
  // values rise: the millisecond stamps above cannot tell an INC sent in the same millisecond
  // its predecessor was acknowledged from one sent before (a checker review).
  const lastOf = new Map<number, IncOp>();
  for (const o of ok) {
    const prev = lastOf.get(o.client);
    if (prev !== undefined && o.value! <= prev.value!) problems.push(`real-time order: client ${o.client}'s ${o.token}=${o.value} came after its ${prev.token}=${prev.value}`);
    lastOf.set(o.client, o);
  }
  return problems;
}
