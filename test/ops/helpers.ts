/**
 * Real `seqdb` processes for the operations tests: spawn, collect output, wait for a line,
 * SIGKILL on teardown. Plus small RESP/HTTP helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { exitWithParent } from '../helpers/exit-with-parent.ts';
import { freePort, freePortRange } from '../helpers/port-range.ts';
import { fileURLToPath } from 'node:url';
import { respCall, infoFields } from '../../shared/observability/resp-call.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Proc {
  readonly child: ChildProcess;
  output(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function seqdb(t: { teardown(fn: () => unknown): void }, args: readonly string[]): Proc {
  const child = spawn(process.execPath, ['bin/seqdb.js', ...args], exitWithParent(args[0], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  const onData = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 1 << 21) out = out.slice(-(1 << 20));
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    output: () => out,
    exited,
    async waitFor(re, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const m = re.exec(out);
        if (m) return m;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`seqdb ${args[0]} exited before ${re}:\n${out}`);
        await sleep(50);
      }
      throw new Error(`timed out waiting for ${re}:\n${out}`);
    },
  };
}

/** Runs a short seqdb command to completion. */
export async function seqdbRun(args: readonly string[], timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  const p = seqdb({ teardown: () => {} }, args);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, output: p.output() };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { freePort };

/** A base port with `count` free ports after it, and the same at base + 1000 (dev admin ports). */
export function freeRange(count: number): Promise<number> {
  return freePortRange(count, true);
}

/** INC through any node/router; returns the number or throws with the error text. */
export async function inc(addr: string, bucket: string, seq: string, ...extra: string[]): Promise<bigint> {
  const r = await respCall(addr, ['INC', bucket, seq, ...extra], { timeoutMs: 10_000 });
  if (r.kind === 'integer') return r.value;
  throw new Error(r.kind === 'error' ? `-${r.word} ${r.message}` : `unexpected ${r.kind}`);
}

/** INC that follows NOTLEADER and retries briefly (same ID token) while a shard elects. */
export async function incRetry(addrs: readonly string[], bucket: string, seq: string, token: string, deadlineMs = 15_000): Promise<bigint> {
  const deadline = Date.now() + deadlineMs;
  let target = addrs[0]!;
  let i = 0;
  let last = '';
  while (Date.now() < deadline) {
    try {
      return await inc(target, bucket, seq, 'ID', token);
    } catch (err) {
      last = (err as Error).message;
      const hint = /^-NOTLEADER \S+ (\S+)/.exec(last)?.[1];
      target = hint && hint !== '?' ? hint : addrs[++i % addrs.length]!;
      await sleep(100);
    }
  }
  throw new Error(`INC ${bucket} ${seq} failed until the deadline: ${last}`);
}

/**
 * The node that reports itself leader; with `votersMin`, only once its configuration has that many
 * voters (a shard still forming has learners, and losing a node then can cost the quorum).
 */
export async function leaderOf(addrs: readonly string[], timeoutMs = 20_000, votersMin = 0): Promise<{ addr: string; pid: number }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const a of addrs) {
      const f = await infoFields(a, 500).catch(() => null);
      const voters = (f?.members ?? '').split(',').filter((m) => m.includes('/voter/')).length;
      if (f?.role === 'leader' && voters >= votersMin) return { addr: a, pid: Number(f.process_id) };
    }
    await sleep(100);
  }
  throw new Error(`no leader among ${addrs.join(',')}`);
}

/** A one-node shard (`--bootstrap-expect 1`) in a fresh `n0` dir: its address and the args that start it again. */
export async function loneMember(t: { teardown(fn: () => unknown): void }, dir: string): Promise<{ addr: string; args: string[]; proc: Proc }> {
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const args = ['node', '--shard', '1', '--host', '127.0.0.1', '--port', String(port), '--data', dir, '--join', addr, '--bootstrap-expect', '1', '--log-level', 'warn'];
  return { addr, args, proc: seqdb(t, args) };
}
