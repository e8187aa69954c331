/**
 * The few Prometheus metric kinds a SeqDB process exports, written as the text exposition format
 * (version 0.0.4) when scraped.
 *
 * Why not prom-client: loading it cost every node and router ~100 ms of CPU at start (its
 * default-metrics modules pull in @opentelemetry/api and node:http), more than a tenth of a node's
 * start, paid by every restart and by each of the ~400 processes a test run starts; and what we
 * use of it is this file's worth. test/ops/prom-registry.test.ts checks that the same metrics fed
 * the same values print the same series as prom-client (kept as a dev dependency for that).
 */

export type Labels = Readonly<Record<string, string>>;

/** One sample of a gauge: its own labels (null: none) and value. */
export type GaugeSample = readonly [labels: Labels | null, value: number];

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  /** Sample lines, each series' own labels rendered before the process's `extra` labels. */
  lines(extra: readonly string[]): string[];
}

export class Counter {
  private value = 0;
  inc(n = 1): void {
    this.value += n;
  }
  /** The sample line, with `labels` (rendered `k="v"`). */
  lines(name: string, labels: readonly string[]): string[] {
    return [`${name}${labelBlock(labels)} ${formatValue(this.value)}`];
  }
}

export class Histogram {
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++; // buckets are inclusive
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }

  /** The bucket, sum and count lines, each with `labels` (rendered `k="v"`; `le` goes first). */
  lines(name: string, labels: readonly string[]): string[] {
    const out: string[] = [];
    let cumulative = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      cumulative += this.counts[i]!;
      const le = i < this.bounds.length ? String(this.bounds[i]) : '+Inf';
      out.push(`${name}_bucket${labelBlock([`le="${le}"`, ...labels])} ${cumulative}`);
    }
    out.push(`${name}_sum${labelBlock(labels)} ${formatValue(this.sum)}`, `${name}_count${labelBlock(labels)} ${this.count}`);
    return out;
  }
}

export class Registry {
  /** What prom-client's registry answered for the text format. */
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  private readonly families: Family[] = [];
  private defaults: string[] = [];

  /** Labels every series carries after its own (e.g. component, node, shard). */
  setDefaultLabels(labels: Labels): void {
    this.defaults = renderLabels(labels);
  }

  /** A gauge whose samples are read at scrape time; none is fine (HELP and TYPE only). */
  gauge(name: string, help: string, read: () => Iterable<GaugeSample>): void {
    this.families.push({
      name, help, type: 'gauge',
      lines: (extra) => {
        const out: string[] = [];
        for (const [labels, value] of read()) out.push(`${name}${labelBlock([...(labels === null ? [] : renderLabels(labels)), ...extra])} ${formatValue(value)}`);
        return out;
      },
    });
  }

  counter(name: string, help: string): Counter {
    const counter = new Counter();
    this.families.push({ name, help, type: 'counter', lines: (extra) => counter.lines(name, extra) });
    return counter;
  }

  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    const histogram = new Histogram(bounds);
    this.families.push({ name, help, type: 'histogram', lines: (extra) => histogram.lines(name, extra) });
    return histogram;
  }

  /** Every family in registration order, as prom-client's `metrics()` prints them. */
  text(): string {
    return this.families
      .map((f) => [`# HELP ${f.name} ${escapeString(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...f.lines(this.defaults)].join('\n'))
      .join('\n\n') + '\n';
  }
}

/** `k="v"` for each label, escaped. */
export function renderLabels(labels: Labels): string[] {
  return Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
}

function labelBlock(parts: readonly string[]): string {
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Prometheus spells these NaN, +Inf and -Inf. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function escapeString(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function escapeLabel(value: string): string {
  return escapeString(value).replace(/"/g, '\\"');
}
