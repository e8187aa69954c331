/**
 * Blind spots of the chaos run's verdict and recorder (test/chaos/cli.ts, checker/check.ts,
 * clients.ts). Each was a blind spot a checker review found.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/netns.ts';
import { checkHistory } from './checker/check.ts';
import { type Op, opToJson } from './checker/history.ts';
import { classify } from './clients.ts';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

function cli(args: readonly string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TS_LOADER_ARG, join(REPO_ROOT, 'test', 'chaos', 'cli.ts'), ...args], { cwd: REPO_ROOT, timeout: 60_000 },
      (err, stdout) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout }));
  });
}

/** A 60 s run: INCs answered for 20 s, then every attempt times out until the end (and after the heal). */
function deadClusterHistory(): Op[] {
  const h: Op[] = [];
  let v = 0n;
  for (let t = 0; t < 20_000; t += 10) h.push({ process: 0, type: 'inc', bucket: 'chaos', sequence: 'hot-0', invokeMs: t, completeMs: t + 5, status: 'ok', value: ++v });
  for (let t = 20_000; t < 80_000; t += 1_500) {
    h.push({ process: 0, type: 'inc', bucket: 'chaos', sequence: 'hot-0', invokeMs: t, completeMs: t + 1_500, status: 'unknown', error: 'lost: timeout' });
    h.push({ process: 1, type: 'get', bucket: 'chaos', sequence: 'cold-1', invokeMs: t, completeMs: t + 1_500, status: 'fail', error: 'lost: timeout' });
  }
  return h;
}

test('a run whose cluster never got a leader back after the final heal is not VALID (exit 0)', async (t) => {
  const history = deadClusterHistory();
  // The checker alone: only safety, so 'valid'. That is fine for checkHistory, but nothing else looks.
  t.is(checkHistory(history).verdict, 'valid');
  const dir = await mkdtemp(join(tmpdir(), 'chaos-blind-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const node = (i: number) => ({ ns: `x-n${i}`, address: `10.77.0.${i}`, iface: 'veth0' });
  const raw = {
    config: { seed: 1, shards: 1, processes: 2, schedule: { seed: 1, durationMs: 60_000, events: [] }, outDir: dir, namespaces: [node(1), node(2), node(3)], system: 'seqdb' },
    history: history.map(opToJson),
    faults: [],
    startupMs: 1000,
    recoveryMs: [null], // "leader after final heal: NONE"
    samples: [],
    shardMembers: [[0, 1, 2]],
    rebalanceFinal: null,
    log: [],
  };
  await writeFile(join(dir, 'raw.json'), JSON.stringify(raw));
  const run = await cli(['--check', dir]);
  t.regex(run.stdout, /leader after final heal: NONE/);
  t.not(run.code, 0, `chaos says:\n${run.stdout.slice(0, 1500)}`);
});

test('the recorder counts CLUSTERDOWN (router deadline, "may have applied" per client/outcome.ts) as may-have-applied', (t) => {
  // client/outcome.ts: "CLUSTERDOWN is what a router answers when its own deadline passed, possibly
  // after forwarding an attempt that was applied". clients.ts records it as 'fail' (certainly not
  // applied): the op is dropped from the history, and its number shows up as an unexplained gap.
  const reply = { kind: 'reply' as const, reply: { kind: 'error' as const, word: 'CLUSTERDOWN', message: 'deadline passed; INC outcome unknown: retry only with the same ID token r-1' } };
  t.is(classify(reply, 'inc').status, 'unknown');
  t.is(classify(reply, 'set').status, 'unknown');
});
