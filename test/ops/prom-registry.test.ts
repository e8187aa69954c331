/**
 * Our Prometheus registry prints what prom-client (the reference, a dev dependency) prints for the
 * same metrics and values: the same HELP and TYPE lines and the same series with the same values,
 * for gauges with and without labels, NaN and empty gauges, a counter and a histogram fed a
 * seeded random stream (bucket bounds hit exactly, values beyond the last bound), with default
 * labels that need escaping.
 */
import test from 'ava';
import * as prom from 'prom-client';
import { Registry, type GaugeSample } from '../../shared/observability/prom-registry.ts';
import { LATENCY_BUCKETS_S } from '../../shared/observability/command-stats.ts';
import { seededRng } from '../raft/helpers/network.ts';

/** `name{sorted labels}` -> value of every sample line, and the comment lines in order. */
function parse(text: string): { samples: Map<string, number>; comments: string[] } {
  const samples = new Map<string, number>();
  const comments: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      comments.push(line);
      continue;
    }
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels = (m[2] ?? '').split(/,(?=[a-z_]+=")/).filter((l) => l !== '').sort().join(',');
    samples.set(`${m[1]}{${labels}}`, Number(m[3]));
  }
  return { samples, comments };
}

test('same comments, series and values as prom-client for the same metrics (seeded)', async (t) => {
  const seed = Number(process.env['SEQDB_TEST_SEED'] ?? Date.now() % 1_000_000);
  t.log(`seed ${seed} (replay with SEQDB_TEST_SEED=${seed})`);
  const random = seededRng(seed);
  const defaults = { component: 'node', node: 'n"1\\x\ny' };
  const theirs = new prom.Registry();
  theirs.setDefaultLabels(defaults);
  const registers = [theirs];
  const ours = new Registry();
  ours.setDefaultLabels(defaults);

  const peers: Record<string, number> = { a: 3, 'b"\\': 0, c: 17 };
  const term = Math.floor(random() * 1000);
  new prom.Gauge({ name: 'seqdb_raft_term', help: 'Current\nterm \\ here.', registers, collect() { this.set(term); } });
  ours.gauge('seqdb_raft_term', 'Current\nterm \\ here.', () => [[null, term]]);
  new prom.Gauge({ name: 'seqdb_unknown', help: 'NaN.', registers, collect() { this.set(Number.NaN); } });
  ours.gauge('seqdb_unknown', 'NaN.', () => [[null, Number.NaN]]);
  new prom.Gauge({ name: 'seqdb_empty', help: 'No samples.', labelNames: ['peer'], registers, collect() { this.reset(); } });
  ours.gauge('seqdb_empty', 'No samples.', () => []);
  new prom.Gauge({
    name: 'seqdb_lag', help: 'Per peer.', labelNames: ['peer'], registers,
    collect() { this.reset(); for (const [peer, v] of Object.entries(peers)) this.set({ peer }, v); },
  });
  ours.gauge('seqdb_lag', 'Per peer.', () => Object.entries(peers).map(([peer, v]): GaugeSample => [{ peer }, v]));

  const theirCounter = new prom.Counter({ name: 'seqdb_flush_bytes_total', help: 'Bytes.', registers });
  const ourCounter = ours.counter('seqdb_flush_bytes_total', 'Bytes.');
  const theirHistogram = new prom.Histogram({ name: 'seqdb_flush_duration_seconds', help: 'Latency.', buckets: [...LATENCY_BUCKETS_S], registers });
  const ourHistogram = ours.histogram('seqdb_flush_duration_seconds', 'Latency.', LATENCY_BUCKETS_S);
  for (let i = 0; i < 3000; i++) {
    const bytes = Math.floor(random() * 70_000);
    theirCounter.inc(bytes);
    ourCounter.inc(bytes);
    const r = random();
    const seconds = r < 0.2 ? LATENCY_BUCKETS_S[Math.floor(random() * LATENCY_BUCKETS_S.length)]! : r < 0.25 ? 5 + random() * 10 : random() * random() * 0.05;
    theirHistogram.observe(seconds);
    ourHistogram.observe(seconds);
  }

  const expected = parse(await theirs.metrics());
  const actual = parse(ours.text());
  t.deepEqual(actual.comments, expected.comments);
  t.true(expected.samples.size > 20, 'every kind printed samples');
  t.deepEqual([...actual.samples.keys()].sort(), [...expected.samples.keys()].sort());
  for (const [series, value] of expected.samples) t.is(actual.samples.get(series), value, series);
  t.is(ours.contentType, theirs.contentType);
});

test('gauges are read at scrape time, and the default labels can change', (t) => {
  const ours = new Registry();
  let open = 1;
  ours.gauge('seqdb_open_connections', 'Open.', () => [[null, open]]);
  t.regex(ours.text(), /\nseqdb_open_connections 1\n/);
  open = 7;
  ours.setDefaultLabels({ component: 'router' });
  t.regex(ours.text(), /\nseqdb_open_connections\{component="router"\} 7\n/);
});
