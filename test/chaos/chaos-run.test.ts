/**
 * The whole chaos pipeline, short: `test/chaos/cli.ts` runs a seeded 15-second schedule against
 * a 3-node shard in namespaces, checks the history and writes the report; then the same run's
 * history with one acknowledged number duplicated is re-checked (`--check`) and must fail; and a
 * deliberately broken system (broken-node.ts) must fail the check.
 * Longer runs: chaos-routers.test.ts (60 s, as `npm run chaos:ci`) and `npm run chaos -- --duration ...`.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, requireNamespaces } from '../helpers/netns.ts';
import type { RawRun } from './run-in-namespace.ts';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

const SEED = 3;

test.before(() => {
  requireNamespaces();
});

function cli(args: readonly string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TS_LOADER_ARG, join(REPO_ROOT, 'test', 'chaos', 'cli.ts'), ...args],
      { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }));
  });
}

test.serial(`a 15 s seeded run (seed ${SEED}) passes every check and writes its report; a tampered copy fails`, async (t) => {
  t.timeout(115_000);
  const out = await mkdtemp(join(tmpdir(), 'seqdb-chaos-run-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const run = await cli(['--seed', String(SEED), '--duration', '15', '--nodes', '3', '--processes', '6', '--out', out], 110_000);
  t.is(run.code, 0, `seed ${SEED}\n${run.stdout}\n${run.stderr.slice(-4000)}`);
  t.regex(run.stdout, /verdict: VALID/);
  for (const f of ['raw.json', 'report.json', 'summary.txt', 'throughput.svg']) t.true(existsSync(join(out, f)), f);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { verdict: string; faults: unknown[]; counts: Record<string, { ok: number }> };
  t.is(report.verdict, 'valid');
  t.true(report.faults.length >= 2, 'the schedule fired');
  t.true(report.counts.incId!.ok > 50 && report.counts.inc!.ok > 50 && report.counts.get!.ok > 10 && report.counts.set!.ok > 10);

  // The same history with one hot-sequence number acknowledged twice.
  const raw = JSON.parse(readFileSync(join(out, 'raw.json'), 'utf8')) as RawRun;
  const hot = raw.history.map((o, i) => ({ o, i })).filter((x) => x.o.sequence === 'hot-0' && x.o.status === 'ok' && x.o.type === 'inc');
  const [a, b] = [hot[5]!, hot[hot.length - 5]!];
  raw.history[b.i] = { ...b.o, value: a.o.value! };
  writeFileSync(join(out, 'raw.json'), JSON.stringify(raw));
  const recheck = await cli(['--check', out], 60_000);
  t.is(recheck.code, 1, recheck.stdout);
  t.regex(recheck.stdout, /verdict: INVALID/);
  t.regex(recheck.stdout, /violation 1: duplicate on \["chaos","hot-0"\]/);
});

test.serial('the test bed catches a broken system: unreplicated per-node counters fail the check', async (t) => {
  t.timeout(80_000);
  const out = await mkdtemp(join(tmpdir(), 'seqdb-chaos-broken-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const run = await cli(['--system', 'broken', '--seed', String(SEED), '--duration', '6', '--processes', '4', '--out', out], 75_000);
  t.is(run.code, 1, `${run.stdout}\n${run.stderr.slice(-4000)}`);
  t.regex(run.stdout, /verdict: INVALID/);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { rows: Array<{ check: string; violations: number }> };
  const failed = report.rows.filter((r) => r.violations > 0).map((r) => r.check);
  t.true(failed.includes('duplicate'), failed.join(','));
  t.true(failed.includes('linearizable'), failed.join(','));
});
