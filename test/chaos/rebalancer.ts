/**
 * Runs `seqdb rebalance --router H:P` as a process (from the clients' namespace), so the
 * nemesis can start a rebalance under load and, if it is still moving slots when its fault
 * window ends, kill -9 it mid-move; the next run must finish or roll back that move.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/netns.ts';

export class Rebalancer {
  readonly logPath: string;
  #child: ChildProcess | null = null;
  #exit: Promise<number | null> = Promise.resolve(null);
  #runs = 0;

  constructor(private readonly router: () => string, runDir: string) {
    this.logPath = join(runDir, 'rebalance.log');
  }

  get running(): boolean {
    return this.#child !== null;
  }

  /** Starts a rebalance through the router `router()` names, unless one is running. */
  start(): void {
    if (this.#child !== null) return;
    const fd = openSync(this.logPath, 'a');
    const router = this.router();
    const child = spawn(process.execPath, ['bin/seqdb.js', 'rebalance', '--router', router], { cwd: REPO_ROOT, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.#runs++;
    this.#child = child;
    this.#exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#child = null;
        resolve(signal !== null ? null : code);
      });
    });
  }

  /** kill -9 of a running rebalance (a move may be left half done). */
  interrupt(): void {
    this.#child?.kill('SIGKILL');
  }

  /** The exit code of the current or last run (null: killed), or 'running' after `timeoutMs`. */
  async wait(timeoutMs: number): Promise<number | null | 'running'> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'running'>((resolve) => {
      timer = setTimeout(() => resolve('running'), timeoutMs);
    });
    try {
      return await Promise.race([this.#exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  get runs(): number {
    return this.#runs;
  }

  /** The log's last non-empty lines, for notes. */
  tail(lines = 3): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').filter((l) => l.trim() !== '').slice(-lines).join(' | ');
    } catch {
      return '';
    }
  }
}
