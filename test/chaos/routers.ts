/**
 * `seqdb router` processes for a chaos run, each in its own namespace on the bridge, in front
 * of a sharded ChaosCluster (shard "1" holds the catalog). Start, kill -9, restart,
 * SIGSTOP/SIGCONT; output goes to <runDir>/r<i>.log.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, type NetnsNode } from '../helpers/netns.ts';
import { applyDrops, NO_DROPS } from './net-faults.ts';
import { NODE_PORT, sleep } from './cluster.ts';
import { RespConn } from './resp-conn.ts';

export interface ChaosRouter {
  readonly index: number;
  readonly ns: string;
  readonly address: string;
  readonly addr: string;
  readonly logPath: string;
  state: 'running' | 'paused' | 'dead';
  child: ChildProcess | null;
  /** Node addresses this router is cut off from (partition-router), none when healed. */
  cutOff: readonly string[];
}

export class ChaosRouters {
  readonly routers: ChaosRouter[];

  /** `seeds`: node addresses the routers fetch the catalog from (shard 1's among them). */
  constructor(namespaces: readonly NetnsNode[], runDir: string, private readonly seeds: readonly string[], private readonly log: (line: string) => void) {
    this.routers = namespaces.map((n, index) => ({
      index, ns: n.ns, address: n.address, addr: `${n.address}:${NODE_PORT}`, logPath: join(runDir, `r${index}.log`), state: 'dead', child: null, cutOff: [],
    }));
  }

  get addrs(): string[] {
    return this.routers.map((r) => r.addr);
  }

  /** Starts every router and waits until each sees `shards` shards, all owning slots. */
  async startAll(shards: number, timeoutMs = 60_000): Promise<void> {
    for (const r of this.routers) this.#spawn(r);
    const deadline = Date.now() + timeoutMs;
    for (const r of this.routers) {
      while (!(await this.ready(r.index, shards))) {
        if (Date.now() > deadline) throw new Error(`router ${r.index} did not see ${shards} shards owning slots in ${timeoutMs} ms\n${this.logTails()}`);
        await sleep(250);
      }
    }
  }

  async ready(i: number, shards: number): Promise<boolean> {
    const info = await this.info(i);
    if (info === null || Number(info.catalog_epoch ?? 0) < 1) return false;
    for (let k = 1; k <= shards; k++) if (!/slots=[1-9]/.test(info[`shard_${k}`] ?? '')) return false;
    return true;
  }

  /** Waits until router 0's catalog lists shard `id` (registered, with or without slots). */
  async waitRegistered(id: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (((await this.info(0))?.[`shard_${id}`] ?? '') === '') {
      if (Date.now() > deadline) throw new Error(`shard ${id} did not register in ${timeoutMs} ms\n${this.logTails()}`);
      await sleep(250);
    }
  }

  kill(i: number): void {
    const r = this.#router(i);
    if (r.child === null) return;
    if (r.state === 'paused') r.child.kill('SIGCONT');
    r.child.kill('SIGKILL');
    r.state = 'dead';
  }

  restart(i: number): void {
    const r = this.#router(i);
    if (r.state === 'dead') this.#spawn(r);
  }

  pause(i: number): void {
    const r = this.#router(i);
    if (r.state !== 'running' || r.child === null) return;
    r.child.kill('SIGSTOP');
    r.state = 'paused';
  }

  resume(i: number): void {
    const r = this.#router(i);
    if (r.state !== 'paused' || r.child === null) return;
    r.child.kill('SIGCONT');
    r.state = 'running';
  }

  /**
   * Cuts router i off from `addresses` (nft drops in its own namespace, both ways): its clients
   * still reach it, it no longer reaches those nodes. [] heals it.
   */
  cutOff(i: number, addresses: readonly string[]): void {
    const r = this.#router(i);
    applyDrops(r.ns, addresses.length === 0 ? NO_DROPS : { blocked: addresses, lossPercent: 0 });
    r.cutOff = addresses;
  }

  healAll(): void {
    for (const r of this.routers) {
      if (r.cutOff.length > 0) this.cutOff(r.index, []);
      if (r.state === 'paused') this.resume(r.index);
      else if (r.state === 'dead') this.restart(r.index);
    }
  }

  async info(i: number, timeoutMs = 500): Promise<Record<string, string> | null> {
    const r = this.#router(i);
    const conn = new RespConn(r.address, NODE_PORT);
    try {
      const reply = await conn.call(['INFO'], timeoutMs);
      if (reply.kind !== 'reply' || reply.reply.kind !== 'string') return null;
      const out: Record<string, string> = {};
      for (const line of reply.reply.value.toString('utf8').split(/\r?\n/)) {
        const at = line.indexOf(':');
        if (at > 0) out[line.slice(0, at)] = line.slice(at + 1);
      }
      return out;
    } finally {
      conn.close();
    }
  }

  async shutdown(): Promise<void> {
    const exits: Promise<void>[] = [];
    for (const r of this.routers) {
      const child = r.child;
      if (child === null || child.exitCode !== null || child.signalCode !== null) continue;
      exits.push(new Promise((done) => child.once('exit', () => done())));
      r.state = 'dead';
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await Promise.race([Promise.all(exits), sleep(5_000)]);
  }

  logTails(bytes = 2_000): string {
    return this.routers.map((r) => {
      let text = '(no log)';
      try {
        text = readFileSync(r.logPath, 'utf8').slice(-bytes);
      } catch {
        // Never started.
      }
      return `--- router ${r.index} ${r.addr} (${r.state}) ---\n${text}`;
    }).join('\n');
  }

  #spawn(r: ChaosRouter): void {
    const args = ['netns', 'exec', r.ns, process.execPath, 'bin/seqdb.js', 'router',
      '--host', r.address, '--port', String(NODE_PORT), '--join', this.seeds.join(',')];
    const fd = openSync(r.logPath, 'a');
    const child = spawn('ip', args, { cwd: REPO_ROOT, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    r.child = child;
    r.state = 'running';
    child.once('exit', (code, signal) => {
      if (r.child !== child) return;
      r.child = null;
      if (r.state !== 'dead') {
        r.state = 'dead';
        this.log(`router ${r.index} exited on its own (${code ?? signal})`);
      }
    });
  }

  #router(i: number): ChaosRouter {
    const r = this.routers[i];
    if (r === undefined) throw new RangeError(`no router ${i}`);
    return r;
  }
}
