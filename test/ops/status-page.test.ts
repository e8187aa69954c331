/**
 * The router's status page in a real headless Chromium (Debian's chromium via playwright-core):
 * it loads, shows the shard with its three nodes and its leader, and, after the leader process
 * is killed, marks that node unreachable and shows the newly elected leader. A screenshot is
 * written to a temp dir (path in the test log). Fails, never skips, without /usr/bin/chromium.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { freeRange, incRetry, leaderOf, seqdb, sleep } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';

test('status page shows the cluster and follows a leader kill', async (t) => {
  t.true(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (the status page test needs a real browser)`);
  if (!existsSync(CHROMIUM)) return;
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-ops-page-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const port = await freeRange(4);
  const dev = seqdb(t, ['dev', '--shards', '1', '--nodes', '3', '--port', String(port), '--data', join(dir, 'data'), '--log-level', 'warn']);
  const admin = (await dev.waitFor(/status page on http:\/\/([0-9.:]+)\//))[1]!;
  const nodes = [1, 2, 3].map((i) => `127.0.0.1:${port + i}`);
  const router = `127.0.0.1:${port}`;
  let leader = await leaderOf(nodes, 30_000);
  for (let i = 0; i < 30; i++) await incRetry([router], 'page', 's', `p-${i}`);

  const routerMetrics = await (await fetch(`http://${admin}/metrics`)).text();
  t.regex(routerMetrics, /seqdb_cluster_shard_slots\{shard="1",component="router"\} 16384/);
  t.regex(routerMetrics, /seqdb_commands_total\{type="inc",result="ok",component="router"\} [1-9]/);
  const adminPort = Number(admin.split(':')[1]);
  // Every node has committed entries: asked again for a while, since on a loaded box a node may
  // still be joining when the leader answers (its Raft gauges are NaN until it has a Raft).
  const readNodeMetrics = (): Promise<string[]> => Promise.all([1, 2, 3].map(async (i) => (await fetch(`http://127.0.0.1:${adminPort + i}/metrics`)).text()));
  const committed = (m: string): boolean => /seqdb_raft_commit_index\{[^}]*\} [1-9]/.test(m);
  let nodeMetrics = await readNodeMetrics();
  for (const until = Date.now() + 20_000; !nodeMetrics.every(committed) && Date.now() < until; nodeMetrics = await readNodeMetrics()) await new Promise((r) => setTimeout(r, 200));
  t.true(nodeMetrics.every(committed), nodeMetrics.map((m) => /seqdb_raft_(commit_index|role\{role="(leader|follower|joining|learner)")[^\n]*/g.exec(m)?.[0] ?? '').join(' | '));
  t.is(nodeMetrics.filter((m) => /seqdb_raft_role\{role="leader",component="node",shard="1",node="[0-9a-f]+"\} 1/.test(m)).length, 1, 'exactly one node reports itself leader');

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://${admin}/`);
  await page.waitForSelector('.shard[data-shard="1"] tr.node[data-role="leader"]', { timeout: 20_000 });
  await page.waitForFunction((n) => document.querySelectorAll('.shard[data-shard="1"] tr.node[data-up="true"]').length === n, 3, { timeout: 20_000 });
  t.is(await page.textContent('#cluster-health'), 'healthy');
  // The leader asked for before may have lost its place since (a fresh shard on a loaded box: a CI
  // run saw the page name another node): the page must name whichever node leads now.
  let shown = await page.getAttribute('.shard[data-shard="1"]', 'data-leader');
  for (let i = 0; i < 20 && shown !== leader.addr; i++) {
    await sleep(500);
    leader = await leaderOf(nodes, 5000);
    shown = await page.getAttribute('.shard[data-shard="1"]', 'data-leader');
  }
  t.is(shown, leader.addr);
  t.regex((await page.textContent('.shard[data-shard="1"] .shard-head')) ?? '', /16,384 slots \(100%\)/);
  t.regex((await page.textContent('#requests')) ?? '', /^[1-9]/, 'request counter shows the INCs');
  // Drawn from the second sample of the counters on: on a busy box that can come after the rest.
  await page.waitForSelector('#chart path.ops', { timeout: 20_000 }).catch(() => undefined);
  t.true((await page.locator('#chart path.ops').count()) === 1, 'the ops/s chart is drawn');

  // Kill the leader (SIGKILL: no transfer) while load goes on; the page must follow.
  process.kill(leader.pid, 'SIGKILL');
  const load = (async () => {
    for (let i = 0; i < 40; i++) await incRetry([router], 'page', 's', `q-${i}`).catch(() => undefined);
  })();
  await page.waitForSelector(`tr.node[data-addr="${leader.addr}"][data-up="false"]`, { timeout: 20_000 });
  await page.waitForFunction((old) => {
    const el = document.querySelector('.shard[data-shard="1"]');
    const lead = el?.querySelector('tr.node[data-role="leader"][data-up="true"]');
    return lead !== null && lead !== undefined && lead.getAttribute('data-addr') !== old;
  }, leader.addr, { timeout: 20_000 });
  await load;
  await sleep(1500); // a couple of redraws so the chart has the load on it
  t.is(await page.textContent('#cluster-health'), 'unhealthy');
  t.regex((await page.textContent('.shard[data-shard="1"] .problems')) ?? '', /1 of 3 node\(s\) unreachable/);
  const shot = join(await mkdtemp(join(tmpdir(), 'seqdb-status-shot-')), 'status.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.log(`screenshot: ${shot}`);
  t.deepEqual(errors, [], 'no script errors on the page');
  dev.child.kill('SIGTERM');
  t.is((await dev.exited).code, 0, 'seqdb dev (cluster) exits 0 on SIGTERM');
});
