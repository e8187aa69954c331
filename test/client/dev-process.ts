/** Spawns the real `seqdb dev` (and CLI commands) for end-to-end client tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exitWithParent } from '../helpers/exit-with-parent.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SEQDB = join(ROOT, 'bin/seqdb.js');

export interface DevProcess {
  readonly port: number;
  readonly child: ChildProcess;
  /** kill -9 and wait for the exit. */
  kill(): Promise<void>;
}

export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Starts `seqdb dev` on `port` (0: any) and resolves once it printed its address. */
export function startDev(dataDir: string, port = 0, timeoutMs = 20_000, extraArgs: readonly string[] = []): Promise<DevProcess> {
  const child = spawn(process.execPath, [SEQDB, 'dev', '--port', String(port), '--data', dataDir, ...extraArgs], exitWithParent('dev', {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  return new Promise((resolvePromise, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`seqdb dev did not start within ${timeoutMs} ms: ${out}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const match = /listening on [^\s]*:(\d+)/.exec(out);
      if (match === null) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      resolvePromise({
        port: Number(match[1]),
        child,
        kill: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`seqdb dev exited (${code}) before listening: ${out}`));
    });
  });
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `seqdb <args>` to completion (bounded by timeoutMs). */
export function runSeqdb(args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [SEQDB, ...args], {
      cwd: ROOT,
      env: { ...process.env, SEQDB_HISTFILE: '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`seqdb ${args.join(' ')} timed out: ${stdout} ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    // 'close', not 'exit': the process can exit before the parent has read all of its output
    // (a CI run saw the last three replies of a piped `seqdb cli` missing).
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}
