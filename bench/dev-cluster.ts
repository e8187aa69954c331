/**
 * Helpers for the bench scripts that need more than seqbench: start `seqdb dev` in a temp dir,
 * find its node processes, and drive INC/GET over plain RESP sockets (closed loop, bounded).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitWithParent } from '../test/helpers/exit-with-parent.ts';

export const repoDir = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface DevCluster {
  readonly port: number;
  readonly dir: string;
  readonly child: ChildProcess;
  /** The node processes (pid, port) started by this dev cluster. */
  nodes(): { pid: number; port: number }[];
  stop(): Promise<void>;
}

/** Starts `seqdb dev --port port ...args` and resolves once an INC through it succeeds. */
export async function startDev(port: number, args: string[], dir = mkdtempSync(join(tmpdir(), 'seqdb-bench-'))): Promise<DevCluster> {
  const child = spawn(process.execPath, [join(repoDir, 'bin/seqdb.js'), 'dev', '--port', String(port), '--data', dir, ...args],
    exitWithParent('dev', { cwd: repoDir, stdio: ['ignore', 'ignore', 'ignore'] }));
  const c = await RespClient.connectRetry(port, 30_000);
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await c.call(['INC', 'benchready', 'probe']);
      if (typeof r === 'number') break;
      if (Date.now() > deadline) throw new Error(`dev cluster not ready: ${String(r)}`);
      await sleep(200);
    }
  } finally {
    c.close();
  }
  return {
    port, dir, child,
    nodes: () => childPids(child.pid!).map((pid) => ({ pid, port: portArg(pid) })).filter((n) => n.port > 0),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch { /* exited meanwhile */ }
  }
  return out;
}

function portArg(pid: number): number {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const i = argv.indexOf('--port');
    return i >= 0 && argv.includes('node') ? Number(argv[i + 1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Resident memory of a process in MB (from /proc): `anon` is the heap and other private memory;
 * `file` is mostly LMDB's memory-mapped data files (page cache the kernel can drop and re-read).
 */
export function rssMb(pid: number): { total: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { total: mb('VmRSS'), anon: mb('RssAnon'), file: mb('RssFile') + mb('RssShmem') };
}

type Reply = number | string | Error | null;

/** A minimal pipelining RESP client: integer, simple, error and bulk replies (enough for INC/GET/INFO). */
export class RespClient {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting: ((r: Reply) => void)[] = [];
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    const fail = (): void => {
      this.closed = true;
      for (const w of this.waiting.splice(0)) w(new Error('connection lost'));
    };
    socket.on('error', fail);
    socket.on('close', fail);
  }

  static connect(port: number): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.once('connect', () => resolve(new RespClient(s)));
      s.once('error', reject);
    });
  }

  static async connectRetry(port: number, timeoutMs: number): Promise<RespClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await RespClient.connect(port);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(100);
      }
    }
  }

  get alive(): boolean {
    return !this.closed;
  }

  call(args: string[]): Promise<Reply> {
    if (this.closed) return Promise.resolve(new Error('connection lost'));
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return;
      const line = this.buf.toString('latin1', 1, eol);
      let reply: Reply;
      let used = eol + 2;
      switch (this.buf[0]) {
        case 0x3a: reply = Number(line); break; // :
        case 0x2b: reply = line; break; // +
        case 0x2d: reply = new Error(line); break; // -
        case 0x24: { // $
          const n = Number(line);
          if (n < 0) { reply = null; break; }
          if (this.buf.length < used + n + 2) return;
          reply = this.buf.toString('utf8', used, used + n);
          used += n + 2;
          break;
        }
        default:
          this.close();
          return;
      }
      this.buf = this.buf.subarray(used);
      this.waiting.shift()?.(reply);
    }
  }
}
