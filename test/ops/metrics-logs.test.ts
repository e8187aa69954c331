/**
 * Metrics registries are per process object (several in one test process), the admin port
 * serves real Prometheus text over HTTP for a real single node, and logs are JSON lines with
 * the bindings on every line (or short human lines when formatted for a terminal).
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startSingleNode } from '../../node/single/single-node.ts';
import { startAdminServer } from '../../shared/observability/admin-server.ts';
import { createLogger, formatLine, lineLogger } from '../../shared/observability/logger.ts';
import { Metrics } from '../../shared/observability/metrics.ts';
import { inc } from './helpers.ts';

test('the event-loop stall gauge reports how long the loop was held since the previous scrape, then starts over', async (t) => {
  const metrics = new Metrics({ component: 'node' });
  const maxOf = (text: string): number => Number(/^seqdb_event_loop_stall_max_seconds\{component="node"\} (\S+)$/m.exec(text)?.[1] ?? NaN);
  await new Promise((r) => setTimeout(r, 60));
  await metrics.text();
  const until = performance.now() + 300;
  while (performance.now() < until) { /* holds the loop, as a long synchronous job would */ }
  await new Promise((r) => setTimeout(r, 60));
  const stalled = maxOf(await metrics.text());
  t.true(stalled >= 0.25, `max ${stalled} s after a 300 ms stall`);
  await new Promise((r) => setTimeout(r, 100));
  const after = maxOf(await metrics.text());
  t.true(after < stalled, `max ${after} s once the stall was reported`);
});

test('two Metrics in one process do not collide, and gauges read their sources at scrape time', async (t) => {
  const a = new Metrics({ component: 'node', node: 'a' });
  const b = new Metrics({ component: 'node', node: 'b' });
  a.observeCommand('inc', 'ok', 0.001);
  a.observeCommand('inc', 'NOT_LEADER', 0.002);
  b.observeCommand('get', 'ok', 0.003);
  let term = 3;
  a.setRaftSource(() => ({ term, role: 'leader', commit: 10, applied: 9, firstIndex: 5, lastIndex: 12, matchByPeer: { x: 12, y: 7 }, snapshotIndex: 4, snapshotAtMs: Date.now() - 2000 }));
  a.setConnectionsSource(() => 7);
  const text = await a.text();
  t.regex(text, /seqdb_commands_total\{type="inc",result="ok",component="node",node="a"\} 1/);
  t.regex(text, /seqdb_commands_total\{type="inc",result="NOT_LEADER",component="node",node="a"\} 1/);
  t.regex(text, /seqdb_raft_term\{component="node",node="a"\} 3/);
  t.regex(text, /seqdb_raft_role\{role="leader",component="node",node="a"\} 1/);
  t.regex(text, /seqdb_raft_log_entries\{component="node",node="a"\} 8/);
  t.regex(text, /seqdb_follower_lag_entries\{peer="y",component="node",node="a"\} 5/);
  t.regex(text, /seqdb_snapshot_age_seconds\{component="node",node="a"\} [23](\.\d+)?\n/);
  t.regex(text, /seqdb_open_connections\{component="node",node="a"\} 7/);
  term = 4;
  t.regex(await a.text(), /seqdb_raft_term\{component="node",node="a"\} 4/);
  const other = await b.text();
  t.notRegex(other, /node="a"/);
  t.regex(other, /seqdb_commands_total\{type="get",result="ok",component="node",node="b"\} 1/);
  t.regex(other, /seqdb_raft_term\{component="node",node="b"\} NaN/i, 'unknown is NaN, not 0');
});

test('a single node with an admin port serves /metrics and /healthz over HTTP', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-ops-metrics-'));
  const metrics = new Metrics({ component: 'single' });
  const lines: string[] = [];
  const logger = createLogger({ write: (l) => void lines.push(l), pretty: false, bindings: { component: 'single' } });
  const node = await startSingleNode({ dataDir: dir, server: { port: 0 }, observability: { metrics, logger, slowFlushMs: 0 } });
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0, metrics });
  t.teardown(async () => {
    await admin.close();
    await node.close();
    await rm(dir, { recursive: true, force: true });
  });
  const addr = `127.0.0.1:${node.address.port}`;
  for (let i = 0; i < 3; i++) await inc(addr, 'm', 'x');
  const res = await fetch(`http://${admin.address}/metrics`);
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /text\/plain/);
  const text = await res.text();
  t.regex(text, /seqdb_commands_total\{type="inc",result="ok",component="single"\} 3/);
  t.regex(text, /seqdb_command_duration_seconds_count\{type="inc",component="single"\} 3/);
  t.regex(text, /seqdb_flush_duration_seconds_count\{component="single"\} [1-9]/);
  t.regex(text, /seqdb_limit_events_total\{limit="request_limit",component="single"\} 0/);
  // A request over the argument limit is refused, and the refusal shows in the metrics.
  const refused = await new Promise<string>((resolve, reject) => {
    const s = connect(node.address.port, '127.0.0.1', () => s.write(`INC ${'a '.repeat(70)}\r\n`));
    s.once('data', (d) => { s.destroy(); resolve(d.toString()); });
    s.once('error', reject);
  });
  t.regex(refused, /^-ERR /);
  const after = await (await fetch(`http://${admin.address}/metrics`)).text();
  t.regex(after, /seqdb_limit_events_total\{limit="request_limit",component="single"\} 1/);
  t.is(await (await fetch(`http://${admin.address}/healthz`)).text(), 'ok\n');
  t.is((await fetch(`http://${admin.address}/nope`)).status, 404);
  // slowFlushMs 0: every flush is "slow", so the warning path is exercised with real flushes.
  const slow = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((o) => o.event === 'slow_flush');
  t.truthy(slow);
  t.is(slow!.level, 40);
  t.is(slow!.component, 'single');
});

test('logs: one JSON object per line with bindings on every line; levels; terminal format', (t) => {
  const lines: string[] = [];
  const root = createLogger({ write: (l) => void lines.push(l), pretty: false, level: 'info', bindings: { role: 'node', shard: '3' } });
  const log = root.child({ node: 'n1' });
  log.debug('not shown at info');
  log.info({ event: 'leader_change', term: 5 }, 'leader is n2');
  lineLogger(log)('refused peer x: wrong cluster');
  lineLogger(log)('FATAL storage failed');
  t.is(lines.length, 3);
  const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const o of objs) {
    t.is(o.shard, '3');
    t.is(o.node, 'n1');
    t.is(typeof o.time, 'string');
  }
  t.deepEqual(objs.map((o) => o.level), [30, 40, 50]);
  t.is(objs[0]!.event, 'leader_change');
  const human = formatLine(lines[0]!);
  t.regex(human, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[node s3 n1\] leader is n2 event=leader_change term=5\n$/);
  const pretty: string[] = [];
  createLogger({ write: (l) => void pretty.push(l), pretty: true }).warn('slow flush');
  t.regex(pretty[0]!, /WARN.*slow flush/);
  t.false(pretty[0]!.startsWith('{'));
});
