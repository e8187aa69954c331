/**
 * Counts and latency histogram of executed commands, kept in plain arrays and written out as
 * Prometheus text only when scraped.
 *
 * Why not prom-client's Counter and Histogram: each labelled `inc`/`observe` builds and sorts a
 * label hash, and a router calls them for every INC. Measured at 50 clients x 16 pipelined on
 * one hot sequence: 9% of the router's CPU (3.4 -> 2.5 us per INC without them). Here an
 * observation is two Map lookups of the command type and a bucket increment.
 */
import { escapeLabel } from './prom-registry.ts';

/** Upper bounds (seconds) of the latency buckets; +Inf is implied. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

const COUNT_NAME = 'seqdb_commands_total';
const COUNT_HELP = 'Commands executed, by type and result (ok or error code).';
const DURATION_NAME = 'seqdb_command_duration_seconds';
const DURATION_HELP = 'Command latency from dispatch to result.';

interface TypeStats {
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
  readonly results: Map<string, number>;
}

export class CommandStats {
  private readonly byType = new Map<string, TypeStats>();

  /** Records one executed command: its type, `ok` or the error code, and its latency. */
  observe(type: string, result: string, seconds: number): void {
    let stats = this.byType.get(type);
    if (stats === undefined) {
      stats = { buckets: new Float64Array(LATENCY_BUCKETS_S.length + 1), sum: 0, count: 0, results: new Map() };
      this.byType.set(type, stats);
    }
    stats.results.set(result, (stats.results.get(result) ?? 0) + 1);
    stats.buckets[bucketOf(seconds)]! += 1;
    stats.sum += seconds;
    stats.count += 1;
  }

  /**
   * The two metrics in the Prometheus text format, each series with `labels` (the process's
   * default labels) after its own.
   */
  text(labels: Readonly<Record<string, string>>): string {
    const extra = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    const counts = [`# HELP ${COUNT_NAME} ${COUNT_HELP}`, `# TYPE ${COUNT_NAME} counter`];
    const durations = [`# HELP ${DURATION_NAME} ${DURATION_HELP}`, `# TYPE ${DURATION_NAME} histogram`];
    for (const [type, stats] of this.byType) {
      const t = `type="${escapeLabel(type)}"`;
      for (const [result, n] of stats.results) counts.push(`${COUNT_NAME}{${[t, `result="${escapeLabel(result)}"`, ...extra].join(',')}} ${n}`);
      let cumulative = 0;
      for (let i = 0; i <= LATENCY_BUCKETS_S.length; i++) {
        cumulative += stats.buckets[i]!;
        const le = i < LATENCY_BUCKETS_S.length ? String(LATENCY_BUCKETS_S[i]) : '+Inf';
        durations.push(`${DURATION_NAME}_bucket{${[`le="${le}"`, t, ...extra].join(',')}} ${cumulative}`);
      }
      durations.push(`${DURATION_NAME}_sum{${[t, ...extra].join(',')}} ${stats.sum}`);
      durations.push(`${DURATION_NAME}_count{${[t, ...extra].join(',')}} ${stats.count}`);
    }
    return `${counts.join('\n')}\n\n${durations.join('\n')}\n`;
  }
}

/** Index of the smallest bound >= seconds (Prometheus buckets are inclusive), or the +Inf slot. */
function bucketOf(seconds: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) if (seconds <= LATENCY_BUCKETS_S[i]!) return i;
  return LATENCY_BUCKETS_S.length;
}
