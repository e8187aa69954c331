/**
 * The systems `npm run bench` measures, each started fresh in a temp dir on loopback and stopped
 * afterwards. A target whose binary is missing is skipped with a note, never faked.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitWithParent } from '../test/helpers/exit-with-parent.ts';

const repoDir = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface RunningTarget {
  readonly name: string;
  readonly mode: 'resp' | 'etcd';
  /** resp: port; etcd: endpoint list */
  readonly port?: number;
  readonly endpoints?: string;
  /** INC command template for seqbench, `{k}` replaced by the key index. */
  readonly incCommand: string[];
  /** The same with one bucket per key (shards own buckets: what spreads keys over shards). */
  readonly incBucketsCommand?: string[];
  stop(): Promise<void>;
}

export interface TargetSpec {
  readonly name: string;
  /** Why it cannot run here, or null. */
  unavailable(): string | null;
  start(basePort: number): Promise<RunningTarget>;
}

function hasBinary(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/**
 * Sends `probe` until the first reply line starts with `expect`: a listening socket is not yet a
 * ready server, and a router answers PING before its shard has a leader.
 */
async function waitForReply(port: number, timeoutMs: number, probe = 'PING', expect = /^\+PONG/): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port });
      let got = '';
      s.setTimeout(1000, () => { s.destroy(); resolve(false); });
      s.once('connect', () => s.write(`${probe}\r\n`));
      s.on('data', (d) => { got += d.toString(); if (got.includes('\r\n')) { s.destroy(); resolve(expect.test(got)); } });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no ${expect} reply to ${probe} from 127.0.0.1:${port} after ${timeoutMs} ms`);
}

const waitForPong = (port: number, timeoutMs: number): Promise<void> => waitForReply(port, timeoutMs);

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function seqdbTarget(name: string, extraArgs: string[]): TargetSpec {
  return {
    name,
    unavailable: () => null,
    async start(basePort) {
      const dir = mkdtempSync(join(tmpdir(), 'seqdb-bench-'));
      const child = spawn(process.execPath, [join(repoDir, 'bin/seqdb.js'), 'dev',
        '--port', String(basePort), '--data', dir, ...extraArgs], exitWithParent('dev', { cwd: repoDir, stdio: ['ignore', 'ignore', 'inherit'] }));
      // An INC on a key the workload never uses: ready means a shard leader answers writes.
      await waitForReply(basePort, 120_000, 'INC benchready probe', /^:\d+/);
      return {
        name, mode: 'resp', port: basePort, incCommand: ['INC', 'bench', 's{k}'], incBucketsCommand: ['INC', 'bench{k}', 's'],
        async stop() { await stopProcess(child); rmSync(dir, { recursive: true, force: true }); },
      };
    },
  };
}

const redisAlways: TargetSpec = {
  name: 'redis-always',
  unavailable: () => (hasBinary('redis-server') ? null : 'redis-server not installed (apt-get install redis-server)'),
  async start(basePort) {
    const dir = mkdtempSync(join(tmpdir(), 'redis-bench-'));
    const child = spawn('redis-server', ['--port', String(basePort), '--bind', '127.0.0.1', '--dir', dir,
      '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'no'], { stdio: 'ignore' });
    await waitForPong(basePort, 10_000);
    return {
      name: 'redis-always', mode: 'resp', port: basePort, incCommand: ['INCR', 'bench:s{k}'],
      async stop() { await stopProcess(child); rmSync(dir, { recursive: true, force: true }); },
    };
  },
};

const etcd3: TargetSpec = {
  name: 'etcd-3nodes',
  unavailable: () => (hasBinary('etcd') ? null : 'etcd not installed (apt-get install etcd-server)'),
  async start(basePort) {
    const dir = mkdtempSync(join(tmpdir(), 'etcd-bench-'));
    const names = ['e1', 'e2', 'e3'];
    const peer = (i: number) => `http://127.0.0.1:${basePort + 10 + i}`;
    const client = (i: number) => `http://127.0.0.1:${basePort + i}`;
    const cluster = names.map((n, i) => `${n}=${peer(i)}`).join(',');
    const children = names.map((n, i) => spawn('etcd', ['--name', n, '--data-dir', join(dir, n),
      '--listen-client-urls', client(i), '--advertise-client-urls', client(i),
      '--listen-peer-urls', peer(i), '--initial-advertise-peer-urls', peer(i),
      '--initial-cluster', cluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'bench'],
    { stdio: 'ignore', env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? '' : process.arch } }));
    for (let i = 0; i < 3; i++) await waitForPort(basePort + i, 20_000);
    await new Promise((r) => setTimeout(r, 2000)); // leader election
    return {
      name: 'etcd-3nodes', mode: 'etcd', endpoints: names.map((_, i) => client(i)).join(','), incCommand: [],
      async stop() { await Promise.all(children.map((c) => stopProcess(c))); rmSync(dir, { recursive: true, force: true }); },
    };
  },
};

/** Every target by name; `seqdb-3` is the shape the goals are set for (one router, a 3-node shard). */
export const targets: Record<string, TargetSpec> = {
  'seqdb-1': seqdbTarget('seqdb-1', []),
  'seqdb-3': seqdbTarget('seqdb-3', ['--nodes', '3']),
  // Scaling: N shards of 3 nodes behind one router, all on this machine (3N + 1 processes).
  'seqdb-3x2': seqdbTarget('seqdb-3x2', ['--shards', '2', '--nodes', '3']),
  'seqdb-3x4': seqdbTarget('seqdb-3x4', ['--shards', '4', '--nodes', '3']),
  'redis-always': redisAlways,
  'etcd-3nodes': etcd3,
};
