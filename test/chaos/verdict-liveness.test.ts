/**
 * A run's liveness verdict: a leader answering INFO within 20 s of the final heal is not service.
 * After the heal every bucket (or shard) must hand out a number to a probe INC and every sequence
 * must be read back (read-back.ts); a run whose probe got no number is NOT RECOVERED (exit 5). A
 * chaos review saw runs with frozen slots, every shard led, judged VALID. Checked on a recorded
 * run (`--check`); the read-back itself runs in every chaos run (npm run chaos:ci). So does the
 * state verdict: a node that logged a failed state check (state-checks.ts) makes the run invalid.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/netns.ts';
import { type Op, opToJson } from './checker/history.ts';
import { checkHistory } from './checker/check.ts';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

function cli(args: readonly string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TS_LOADER_ARG, join(REPO_ROOT, 'test', 'chaos', 'cli.ts'), ...args], { cwd: REPO_ROOT, timeout: 60_000 },
      (err, stdout) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout }));
  });
}

async function rawDir(t: import('ava').ExecutionContext, extra: Record<string, unknown>): Promise<string> {
  const h: Op[] = [];
  let v = 0n;
  for (let t = 0; t < 20_000; t += 10) h.push({ process: 0, type: 'inc', bucket: 'chaos7', sequence: 'hot-0', invokeMs: t, completeMs: t + 5, status: 'ok', value: ++v });
  const dir = await mkdtemp(join(tmpdir(), 'chaos-live-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const node = (i: number) => ({ ns: `x-n${i}`, address: `10.77.0.${i}`, iface: 'veth0' });
  await writeFile(join(dir, 'raw.json'), JSON.stringify({
    config: { seed: 1, shards: 1, processes: 1, schedule: { seed: 1, durationMs: 60_000, events: [] }, outDir: dir, namespaces: [1, 2, 3].map(node), system: 'seqdb' },
    history: h.map(opToJson), faults: [], startupMs: 1000, recoveryMs: [4], samples: [], shardMembers: [[0, 1, 2]], rebalanceFinal: null, log: [], ...extra,
  }));
  return dir;
}

test('a bucket whose probe INC got no number after the heal is NOT RECOVERED (exit 5)', async (t) => {
  const run = await cli(['--check', await rawDir(t, { readBack: { unread: [], deadProbes: ['bucket chaos7'] } })]);
  t.is(run.code, 5, run.stdout.slice(-400));
  t.regex(run.stdout, /NOT RECOVERED: no INC served after the heal by bucket chaos7/);
});

test('every probe answered and every sequence read is VALID (exit 0)', async (t) => {
  const run = await cli(['--check', await rawDir(t, { readBack: { unread: [], deadProbes: [] } })]);
  t.is(run.code, 0, run.stdout.slice(-400));
});

test('a node that logged a state check failed makes the run invalid whatever the history says (exit 1)', async (t) => {
  const dir = await rawDir(t, { readBack: { unread: [], deadProbes: [] } });
  await mkdir(join(dir, 'nodes'));
  await writeFile(join(dir, 'nodes', 'n0.log'), '{"level":30,"msg":"state check: the state at index 200 is the same as node b\'s"}\n');
  t.is((await cli(['--check', dir])).code, 0, 'an agreeing check is no violation');
  await writeFile(join(dir, 'nodes', 'n1.log'), '{"level":50,"msg":"state check failed: the state at index 400 differs from node a\'s (crc 1 here, 2 there)"}\n');
  const run = await cli(['--check', dir]);
  t.is(run.code, 1, run.stdout.slice(-400));
  t.regex(run.stdout, /STATE DIFFERS between replicas[\s\S]*n1\.log: .*index 400/);
});

test('the read-back GET shows a number taken after a sequence\'s last acknowledged INC (a refusal that applied)', (t) => {
  const base: Op[] = [1, 2, 3, 4, 5].map((v, i) => ({
    process: 0, type: 'inc', bucket: 'chaos', sequence: 'cold-1', invokeMs: i * 10, completeMs: i * 10 + 5, status: 'ok', value: BigInt(v),
  }));
  // Refused with a word that promises nothing was taken, but the server took 6 and 7.
  const refused: Op = { process: 0, type: 'inc', bucket: 'chaos', sequence: 'cold-1', invokeMs: 60, completeMs: 65, status: 'fail', error: 'TRYAGAIN' };
  t.is(checkHistory([...base, refused]).verdict, 'valid', 'without a read the skip is invisible');
  const finalGet: Op = { process: 1, type: 'get', bucket: 'chaos', sequence: 'cold-1', invokeMs: 1000, completeMs: 1001, status: 'ok', value: 7n };
  t.is(checkHistory([...base, refused, finalGet]).verdict, 'invalid');
});
