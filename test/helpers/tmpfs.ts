/**
 * Small disks for tests: a tmpfs mounted in a process's own mount namespace (`unshare -m`), so
 * nothing leaks to the host. Needs root, as CI has; `canMountTmpfs()` says whether to skip.
 * The test reaches the files of such a process through `/proc/<pid>/root<path>`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { rmSync, statfsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { tempDir } from './temp-dir.ts';
import { sleep } from '../replication/helpers/cluster.ts';
import { freePortRange } from './port-range.ts';
import { exitWithParent } from './exit-with-parent.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function canMountTmpfs(): boolean {
  const r = spawnSync('unshare', ['-m', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs $d && umount $d && rmdir $d'], { timeout: 5000 });
  return r.status === 0;
}

/** `path` as process `pid` sees it (inside its mount namespace). */
export function inNamespaceOf(pid: number, path: string): string {
  return `/proc/${pid}/root${path}`;
}

/** Free bytes of the file system holding `path` (as seen by `pid`). */
export function freeBytes(pid: number, path: string): number {
  const s = statfsSync(inNamespaceOf(pid, path));
  return s.bavail * s.bsize;
}

/** Writes a filler file into `dir` (as seen by `pid`) leaving about `leaveBytes` free; returns its path. */
export function fillLeaving(pid: number, dir: string, leaveBytes: number): string {
  const file = inNamespaceOf(pid, `${dir}/filler`);
  const size = freeBytes(pid, dir) - leaveBytes;
  if (size > 0) writeFileSync(file, Buffer.alloc(size));
  return file;
}

export function removeFiller(file: string): void {
  rmSync(file, { force: true });
}

export interface DevOnTmpfs {
  readonly port: number;
  readonly pid: number;
  /** Where the data dir's file system is mounted (as the process sees it). */
  readonly mountDir: string;
  output(): string;
  exited(): string | null;
}

/** `seqdb dev` with its data dir on a fresh tmpfs of `size` (its own mount namespace: gone with it). */
export async function devOnTmpfs(t: ExecutionContext, size: string, reserveMiB: number): Promise<DevOnTmpfs> {
  const mountDir = await tempDir(t);
  const port = await freePortRange(0, true); // dev binds its admin port 1,000 above
  const cmd = `mount -t tmpfs -o size=${size} tmpfs '${mountDir}' && exec '${process.execPath}' bin/seqdb.js dev --port ${port} --data '${mountDir}/d' --log-level warn --disk-reserve-mb ${reserveMiB}`;
  // unshare and sh exec into the node: the child's pid is the server's.
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', cmd], exitWithParent('dev', { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `code ${code} signal ${signal}`));
  t.teardown(() => {
    if (exited === null) child.kill('SIGKILL');
  });
  for (const until = Date.now() + 15_000; !/listening on/.test(output) && exited === null && Date.now() < until;) await sleep(50);
  return { port, pid: child.pid!, mountDir, output: () => output, exited: () => exited };
}

