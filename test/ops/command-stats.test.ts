/**
 * CommandStats writes the same Prometheus series prom-client's Counter and Histogram would for
 * the same observations: fed a seeded random stream (bucket bounds hit exactly, beyond the last
 * bound, several types and results) side by side with prom-client, every series and value match.
 */
import test from 'ava';
import { Counter, Histogram, Registry } from 'prom-client';
import { CommandStats, LATENCY_BUCKETS_S } from '../../shared/observability/command-stats.ts';
import { Metrics } from '../../shared/observability/metrics.ts';
import { seededRng } from '../raft/helpers/network.ts';

/** `name{sorted labels}` -> value, for every sample line of a text exposition. */
function samples(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels = (m[2] ?? '').split(/,(?=[a-z_]+=")/).filter((l) => l !== '').sort().join(',');
    out.set(`${m[1]}{${labels}}`, m[3]!);
  }
  return out;
}

test('same series and values as prom-client for a seeded random stream', async (t) => {
  const seed = Number(process.env['SEQDB_TEST_SEED'] ?? Date.now() % 1_000_000);
  t.log(`seed ${seed} (replay with SEQDB_TEST_SEED=${seed})`);
  const random = seededRng(seed);
  const labels = { component: 'node', node: 'n"1\\x' };
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  const counter = new Counter({ name: 'seqdb_commands_total', help: 'h', labelNames: ['type', 'result'], registers: [registry] });
  const histogram = new Histogram({ name: 'seqdb_command_duration_seconds', help: 'h', labelNames: ['type'], buckets: [...LATENCY_BUCKETS_S], registers: [registry] });
  const stats = new CommandStats();
  const types = ['inc', 'get', 'set', 'incs'];
  const results = ['ok', 'NOT_LEADER', 'TRY_AGAIN', 'OVERFLOW'];
  for (let i = 0; i < 5000; i++) {
    const type = types[Math.floor(random() * types.length)]!;
    const result = results[Math.floor(random() * results.length)]!;
    const r = random();
    const seconds = r < 0.2 ? LATENCY_BUCKETS_S[Math.floor(random() * LATENCY_BUCKETS_S.length)]! : r < 0.25 ? 5 + random() * 10 : random() * random() * 0.05;
    counter.inc({ type, result });
    histogram.observe({ type }, seconds);
    stats.observe(type, result, seconds);
  }
  const expected = samples(await registry.metrics());
  const actual = samples(stats.text(labels));
  t.true(expected.size > 60, 'the stream reached every type and result');
  t.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [series, value] of expected) t.is(Number(actual.get(series)), Number(value), series);
});

test('Metrics.text carries the command series with the labels set after construction', async (t) => {
  const metrics = new Metrics({ component: 'node' });
  metrics.observeCommand('inc', 'ok', 0.0007);
  metrics.observeCommand('inc', 'ok', 3);
  metrics.setDefaultLabels({ component: 'node', node: 'b' });
  const text = await metrics.text();
  t.regex(text, /\n# TYPE seqdb_commands_total counter\n/);
  t.regex(text, /\nseqdb_commands_total\{type="inc",result="ok",component="node",node="b"\} 2\n/);
  t.regex(text, /\nseqdb_command_duration_seconds_bucket\{le="0.001",type="inc",component="node",node="b"\} 1\n/);
  t.regex(text, /\nseqdb_command_duration_seconds_bucket\{le="5",type="inc",component="node",node="b"\} 2\n/);
  t.regex(text, /\nseqdb_command_duration_seconds_count\{type="inc",component="node",node="b"\} 2\n/);
  t.regex(text, /\nseqdb_raft_term\{component="node",node="b"\} NaN\n/i, 'the registry\'s series got the new labels too');
});
