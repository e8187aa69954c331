/**
 * Runs `seqdb dev` as a real child process on a free port with the given data dir, waits until
 * it prints where it listens, and kills it on teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { exitWithParent } from './exit-with-parent.ts';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const READY = /^seqdb dev\b[^\n]*?listening on ([0-9.]+):([0-9]+)/m;

export interface DevProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly pid: number;
  /** Everything printed so far on stdout and stderr. */
  output(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** Resident set size of the server process in KiB, from /proc. */
  rssKiB(): number;
}

export async function startDev(
  t: { teardown(fn: () => unknown): void },
  dataDir: string,
  extraArgs: readonly string[] = [],
  readyTimeoutMs = 20_000,
  env: Record<string, string> = {},
): Promise<DevProcess> {
  const child = spawn(
    process.execPath,
    ['bin/seqdb.js', 'dev', '--port', '0', '--data', dataDir, ...extraArgs],
    exitWithParent('dev', { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }),
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`seqdb dev not ready:\n${output}`)), readyTimeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = READY.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[2]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`seqdb dev exited (${code}) before ready:\n${output}`));
    });
  });
  return {
    child,
    port,
    pid: child.pid!,
    output: () => output,
    exited,
    rssKiB: () => rssKiB(child.pid!),
  };
}

export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+([0-9]+) kB/.exec(status);
  if (match === null) throw new Error('no VmRSS');
  return Number(match[1]);
}

/**
 * The node processes of a `seqdb dev --nodes N` (the dev process's children), waited for up to
 * 10 s and killed on teardown with the test's other processes.
 */
export async function devNodePids(t: { teardown(fn: () => unknown): void }, dev: DevProcess, count: number): Promise<number[]> {
  const pids: number[] = [];
  t.teardown(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  for (let i = 0; i < 100 && pids.length < count; i++) {
    // Only `seqdb node` children: on a cold bundle cache the dev process also runs esbuild's.
    const children = readFileSync(`/proc/${dev.pid}/task/${dev.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number).filter(isNodeProcess);
    pids.splice(0, pids.length, ...children);
    if (pids.length < count) await new Promise((r) => setTimeout(r, 100));
  }
  return pids;
}

function isNodeProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--shard');
  } catch {
    return false; // already gone
  }
}

/** Until an INC through `client` gets a number (the cluster formed and owns its slots), at most 20 s. */
export async function untilServing(client: { call(...args: string[]): Promise<string> }): Promise<void> {
  for (let i = 0; i < 200 && !/^:/.test(await client.call('INC', 'warm', 'up')); i++) await new Promise((r) => setTimeout(r, 100));
}
