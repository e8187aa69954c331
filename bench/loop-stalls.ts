/**
 * How long a node's background jobs hold up requests: `seqdb dev --nodes 3` loaded with
 * `--sequences` distinct sequences, then one closed-loop client INCs a sequence of its own
 * through the router while, in turn, nothing else runs, the leader takes a snapshot (`seqdb node
 * admin snapshot`), `seqdb backup` exports the shard, and the replicas digest their state (the
 * cross-replica state check every 10,000 indexes, which the probe's own INCs reach: at ~1,000
 * INC/s the phase of twice `--phase-s` meets about two). Each phase prints the probe's INC count
 * and latency p50 / p99 / max (a job that holds a node's event loop shows as the max, and if it
 * holds it often, the p99) and the longest stall of the leader's and the followers' event loops
 * (`seqdb_event_loop_stall_max_seconds` on their admin ports, which `seqdb dev` opens 1000 above
 * each node's port).
 *
 *   node --import=tsx bench/loop-stalls.ts [--sequences 1000000] [--port 17750] [--phase-s 10]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolArgs } from './tool-args.ts';
import { RespClient, repoDir, sleep, startDev } from './dev-cluster.ts';

const USAGE = 'Usage: node --import=tsx bench/loop-stalls.ts [--sequences 1000000] [--port 17750] [--phase-s 10]';

/** One closed-loop INC client; `take()` returns the latencies (ms) since the last take. */
class Probe {
  private latencies: number[] = [];
  private running = true;
  private done: Promise<void>;

  constructor(private readonly client: RespClient) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const t0 = performance.now();
      const r = await this.client.call(['INC', 'probe', 'p']);
      if (typeof r !== 'number') throw new Error(`probe INC: ${String(r)}`);
      this.latencies.push(performance.now() - t0);
    }
  }

  take(): number[] {
    const out = this.latencies;
    this.latencies = [];
    return out;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    this.client.close();
  }
}

/** Each node's longest event-loop stall (ms) since the previous call, leader first. */
async function stalls(nodes: { port: number }[], leaderPort: number): Promise<string> {
  const ordered = [...nodes].sort((a, b) => Number(b.port === leaderPort) - Number(a.port === leaderPort));
  const ms = await Promise.all(ordered.map(async (n) => {
    const text = await (await fetch(`http://127.0.0.1:${n.port + 1000}/metrics`)).text();
    return Number(/^seqdb_event_loop_stall_max_seconds\{[^}]*\} (\S+)$/m.exec(text)?.[1] ?? NaN) * 1000;
  }));
  return ms.map((m) => m.toFixed(0)).join(' / ');
}

function summary(name: string, ms: number[], stalled: string, extra = ''): void {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number): string => (s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN).toFixed(2);
  console.log(`| ${name} | ${s.length.toLocaleString('en')} | ${q(0.5)} | ${q(0.99)} | ${(s[s.length - 1] ?? NaN).toFixed(1)} | ${stalled} | ${extra} |`);
}

/** Pipelined INCs creating sequences m0..m(n-1). */
async function load(port: number, n: number): Promise<void> {
  const conns = await Promise.all(Array.from({ length: 16 }, () => RespClient.connect(port)));
  let next = 0;
  const worker = async (c: RespClient): Promise<void> => {
    while (next < n) {
      const r = await c.call(['INC', 'mem', `m${next++}`]);
      if (typeof r !== 'number') throw new Error(`load INC: ${String(r)}`);
    }
  };
  await Promise.all(conns.flatMap((c) => Array.from({ length: 64 }, () => worker(c))));
  for (const c of conns) c.close();
}

/** A node command (the dev cluster's secret is in its nodes' environment), timed. */
function seqdbCommand(args: string[], envOf: number): Promise<number> {
  const env = Object.fromEntries(readFileSync(`/proc/${envOf}/environ`, 'utf8').split('\0').filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  delete env.SEQDB_EXIT_WITH_PARENT;
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(repoDir, 'bin/seqdb.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr.on('data', (d: Buffer) => (text += d.toString()));
  return new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`seqdb ${args[0]}: exit ${code}: ${text}`)))));
}

async function main(): Promise<void> {
  const { values } = toolArgs('bench/loop-stalls.ts', USAGE, { options: {
    sequences: { type: 'string', default: '1000000' }, port: { type: 'string', default: '17750' }, 'phase-s': { type: 'string', default: '10' },
  } });
  const n = (name: keyof typeof values, min: number): number => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < min) {
      console.error(`bench/loop-stalls.ts: --${name} must be an integer >= ${min}`);
      process.exit(2);
    }
    return v;
  };
  const sequences = n('sequences', 1);
  const port = n('port', 1024);
  const phaseMs = n('phase-s', 1) * 1000;
  const cluster = await startDev(port, ['--nodes', '3']);
  const out = mkdtempSync(join(tmpdir(), 'seqdb-bench-stalls-'));
  try {
    const t0 = Date.now();
    await load(port, sequences);
    console.log(`loaded ${sequences.toLocaleString('en')} sequences in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    await sleep(3000);
    const leader = await leaderOf(cluster.nodes());
    const probe = new Probe(await RespClient.connect(port));
    await sleep(3000); // the probe's code warms up
    const nodes = cluster.nodes();
    const stalled = (): Promise<string> => stalls(nodes, leader.port);
    probe.take();
    await stalled();
    console.log('| phase | INCs | p50 ms | p99 ms | max ms | longest loop stall, leader / followers, ms | job |\n| --- | --- | --- | --- | --- | --- | --- |');
    await sleep(phaseMs);
    summary('nothing else', probe.take(), await stalled());
    const snapMs = await seqdbCommand(['node', 'admin', 'snapshot', '--addr', `127.0.0.1:${leader.port}`, '--shard', '1'], leader.pid);
    summary('the leader takes a snapshot', probe.take(), await stalled(), `${snapMs.toFixed(0)} ms`);
    const backupMs = await seqdbCommand(['backup', '--router', `127.0.0.1:${port}`, '--out', join(out, 'b.bak')], leader.pid);
    summary('seqdb backup', probe.take(), await stalled(), `${backupMs.toFixed(0)} ms`);
    await sleep(phaseMs * 2);
    summary('state checks (every 10,000 indexes)', probe.take(), await stalled(), `${(phaseMs * 2 / 1000).toFixed(0)} s`);
    await probe.stop();
  } finally {
    rmSync(out, { recursive: true, force: true });
    await cluster.stop();
  }
}

async function leaderOf(nodes: { pid: number; port: number }[]): Promise<{ pid: number; port: number }> {
  for (const n of nodes) {
    const c = await RespClient.connect(n.port);
    const info = await c.call(['INFO']);
    c.close();
    if (typeof info === 'string' && /^role:leader$/m.test(info)) return n;
  }
  throw new Error('no leader');
}

main().catch((err) => { console.error(err); process.exit(1); });

