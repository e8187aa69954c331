/**
 * The 60-second chaos run that issue 8 puts in CI (also `npm run chaos:ci`): two shards of three
 * nodes forming one sharded cluster (shard 1 holds the catalog), two `seqdb router`s in front,
 * clients on 64 buckets through the routers only, every fault kind allowed. Seed 324547's
 * schedule holds router faults (kill-router, pause-router), the clients cut off from a router, a
 * leader kill, a rebalance, full disks, a disk that stops answering, a torn write and bits
 * flipped on the wire between nodes (the first seed from 7,300 up with all of these once the
 * wire-flip kind changed every seed's schedule; 7270 served before it, 40 before the disk-tear,
 * disk-full and partition-clients kinds). It runs inside `npm test` rather than after it: its
 * minute then overlaps other tests.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, requireNamespaces } from '../helpers/netns.ts';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

const SEED = 324547;

test.before(() => {
  requireNamespaces();
});

test(`a 60 s run behind two routers (seed ${SEED}, as npm run chaos:ci) passes every check`, async (t) => {
  t.timeout(280_000);
  const out = await mkdtemp(join(tmpdir(), 'seqdb-chaos-routers-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const args = ['--seed', String(SEED), '--duration', '60', '--nodes', '3', '--shards', '2', '--routers', '2', '--out', out];
  const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [TS_LOADER_ARG, join(REPO_ROOT, 'test', 'chaos', 'cli.ts'), ...args], { cwd: REPO_ROOT, timeout: 270_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }));
  });
  t.is(run.code, 0, `seed ${SEED}\n${run.stdout}\n${run.stderr.slice(-4000)}`);
  t.log(run.stdout.slice(run.stdout.indexOf('check ')).trim());
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { verdict: string; faults: Array<{ kind: string }>; counts: Record<string, { ok: number }> };
  t.is(report.verdict, 'valid');
  const kinds = new Set(report.faults.map((f) => f.kind));
  for (const k of ['kill-router', 'pause-router', 'kill-leader', 'rebalance', 'partition-clients', 'disk-full', 'disk-tear', 'wire-flip']) t.true(kinds.has(k), `the schedule fired ${k}: ${[...kinds].join(',')}`);
  t.true(report.counts.incId!.ok > 500 && report.counts.inc!.ok > 500, JSON.stringify(report.counts));
  const raw = JSON.parse(readFileSync(join(out, 'raw.json'), 'utf8')) as { history: Array<{ bucket: string; node?: string }>; config: { routers: Array<{ address: string }> } };
  const routerAddrs = new Set(raw.config.routers.map((r) => `${r.address}:7379`));
  t.true(raw.history.every((o) => o.node === undefined || routerAddrs.has(o.node)), 'clients talk to routers only');
  t.true(new Set(raw.history.map((o) => o.bucket)).size > 10, 'sequences spread over buckets');
});
