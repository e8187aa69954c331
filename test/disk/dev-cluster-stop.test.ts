/**
 * How the node processes of `seqdb dev --nodes 3` end when the dev process is stopped. A node that
 * shut down gracefully (README "Shutdown": hand leadership over, flush, exit 0) removes its data
 * dir's LOCK (node/disk/data-dir-lock.ts); one that ended by SIGKILL (exitNow) leaves it.
 *
 * - Ctrl-C in a terminal signals the whole foreground process group: every node gets SIGINT from
 *   the terminal AND SIGTERM from the dev process (dev-cluster.ts stopChild), and a second signal
 *   during shutdown is exitNow (bin/commands/node.ts onSignal): the nodes are SIGKILLed mid-shutdown.
 * - The dev process killed -9: a node sees EOF on stdin and SIGTERMs itself (bin/seqdb.ts
 *   exitWithParent), then logs `shutting down` to a stdout whose reader is gone: EPIPE, an
 *   uncaught 'error', exitNow.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/temp-dir.ts';
import { freePortRange } from '../helpers/port-range.ts';
import { command, sleep } from '../replication/helpers/cluster.ts';
import { alive } from '../helpers/process-state.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The `seqdb node` children of `pid` (on a cold bundle cache it also runs esbuild's). */
function nodeChildrenOf(pid: number): number[] {
  try {
    const pids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number);
    return pids.filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes('--shard');
      } catch {
        return false; // already gone
      }
    });
  } catch {
    return [];
  }
}

async function startCluster(t: { teardown(fn: () => unknown): void }): Promise<{ dev: ChildProcess; data: string; nodes: number[]; output: () => string; port: number }> {
  const dir = await tempDir(t);
  const data = join(dir, 'data');
  const port = await freePortRange(4, true);
  // detached: its own process group, as a shell gives a foreground job.
  const dev = spawn(process.execPath, ['bin/seqdb.js', 'dev', '--nodes', '3', '--port', String(port), '--data', data], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  dev.stdout!.on('data', (d) => (output += d));
  dev.stderr!.on('data', (d) => (output += d));
  const nodes: number[] = [];
  t.teardown(() => {
    for (const pid of [dev.pid!, ...nodes]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  for (const deadline = Date.now() + 30_000; !/router listening/.test(output); await sleep(100)) if (Date.now() > deadline) throw new Error(output);
  for (const deadline = Date.now() + 20_000; ; await sleep(200)) {
    const r = await command(port, ['INC', 'b', 's'], 3000).catch((e: Error) => e.message);
    if (r.startsWith(':')) break;
    if (Date.now() > deadline) throw new Error(`no leader: ${r}`);
  }
  nodes.push(...nodeChildrenOf(dev.pid!));
  return { dev, data, nodes, output: () => output, port };
}

const locks = (data: string): string[] => [0, 1, 2].filter((i) => existsSync(join(data, 'shard-1', `node-${i}`, 'LOCK'))).map((i) => `node-${i}`);

test.serial('Ctrl-C on seqdb dev --nodes 3 (SIGINT to the process group): every node shuts down gracefully', async (t) => {
  t.timeout(90_000);
  const c = await startCluster(t);
  t.is(c.nodes.length, 3);
  const exited = new Promise<string>((r) => c.dev.once('exit', (code, sig) => r(String(code ?? sig))));
  process.kill(-c.dev.pid!, 'SIGINT');
  const code = await exited;
  for (const deadline = Date.now() + 15_000; c.nodes.some(alive) && Date.now() < deadline; ) await sleep(100);
  t.log(`dev exit ${code}; nodes alive ${c.nodes.filter(alive).length}; LOCK left by ${locks(c.data).join(',') || 'none'}`);
  t.log(c.output().split('\n').filter((l) => /shutdown|SIGINT|SIGTERM|transferring/.test(l)).slice(0, 8).join('\n'));
  t.is(code, '0');
  t.deepEqual(locks(c.data), [], 'nodes were killed (LOCK left), not shut down');
  // A finished node that its stdin pipe kept alive until bin/seqdb.ts's 2 s fallback says so.
  t.notRegex(c.output(), /still running 2 s after finishing/);
});

test.serial('seqdb dev --nodes 3 killed -9: its nodes shut down gracefully (exitWithParent)', async (t) => {
  t.timeout(90_000);
  const c = await startCluster(t);
  process.kill(c.dev.pid!, 'SIGKILL');
  for (const deadline = Date.now() + 20_000; c.nodes.some(alive) && Date.now() < deadline; ) await sleep(100);
  t.log(`nodes alive after 20 s: ${c.nodes.filter(alive).length}; LOCK left by ${locks(c.data).join(',') || 'none'}`);
  t.deepEqual(c.nodes.filter(alive), [], 'orphaned nodes still running');
  t.deepEqual(locks(c.data), [], 'orphaned nodes were killed (LOCK left), not shut down');
});
