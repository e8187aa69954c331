/** Process and client helpers for router scenarios (scripts run inside a test namespace). */
import { spawn, type ChildProcess } from 'node:child_process';
import { exitWithParent } from '../helpers/exit-with-parent.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../helpers/netns.ts';
import { NodePool } from '../../router/node-connection.ts';
import type { Reply } from '../../shared/protocol/index.ts';

export { sleep };

export interface Proc {
  readonly name: string;
  readonly args: readonly string[];
  child: ChildProcess | null;
  output: string;
}

const procs: Proc[] = [];

export function start(name: string, args: readonly string[]): Proc {
  const p: Proc = { name, args, child: null, output: '' };
  procs.push(p);
  respawn(p);
  return p;
}

export function respawn(p: Proc): void {
  const child = spawn(process.execPath, ['bin/seqdb.js', ...p.args], exitWithParent(p.args[0], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  p.child = child;
  const onData = (d: Buffer): void => {
    p.output += d.toString();
    if (p.output.length > 200_000) p.output = p.output.slice(-100_000);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  child.once('exit', () => {
    if (p.child === child) p.child = null;
  });
}

export async function stopProc(p: Proc, signal: NodeJS.Signals): Promise<void> {
  const child = p.child;
  if (child === null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  await Promise.race([exited, sleep(5000)]);
  if (p.child === child) child.kill('SIGKILL');
}

export function killAll(): void {
  for (const p of procs) p.child?.kill('SIGKILL');
}

/** A temp dir for the scenario's data dirs, removed (after every process is killed) at exit. */
export function scenarioDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A reply as one short line: the integer, the error's word and text, or the reply's kind. */
export function showReply(r: Reply | null): string {
  if (r === null) return 'no reply';
  if (r.kind === 'integer') return String(r.value);
  return r.kind === 'error' ? `${r.word} ${r.message}` : r.kind;
}

export function dump(): string {
  return procs.map((p) => `--- ${p.name} ---\n${p.output.slice(-2500)}`).join('\n');
}

const pool = new NodePool();

export async function call(address: string, args: readonly string[], timeoutMs = 2000): Promise<Reply | null> {
  const out = await pool.send(address, args, timeoutMs);
  return out.ok ? out.reply : null;
}

export async function info(address: string): Promise<Record<string, string>> {
  const r = await call(address, ['INFO'], 1000);
  const out: Record<string, string> = {};
  if (r?.kind !== 'string') return out;
  for (const line of r.value.toString().split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}

export async function waitUntil(what: string, predicate: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}\n${dump()}`);
}

export function closePool(): void {
  pool.closeAll();
}

export function runMain(main: () => Promise<void>): void {
  main().then(
    () => {
      killAll();
      // stdout to a pipe is asynchronous: exit only once the result line is flushed.
      process.stdout.write('', () => process.exit(0));
    },
    (err: unknown) => {
      console.error(err);
      killAll();
      process.exit(1);
    },
  );
}
