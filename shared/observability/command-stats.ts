/**
 * Counts and latency histogram of executed commands, kept in plain arrays and written out as
 * Prometheus text only when scraped.
 *
 * Why not prom-client's Counter and Histogram: each labelled `inc`/`observe` builds and sorts a
 * label hash, and a router calls them for every INC. Measured at 50 clients x 16 pipelined on
 * one hot sequence: 9% of the router's CPU (3.4 -> 2.5 us per INC without them). Here an
 * observation is two Map lookups of the command type and a bucket increment.
 */
import { Histogram, escapeLabel, renderLabels } from './prom-registry.ts';

/** Upper bounds (seconds) of the latency buckets; +Inf is implied. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

const COUNT_NAME = 'seqdb_commands_total';
const COUNT_HELP = 'Commands executed, by type and result (ok or error code).';
const DURATION_NAME = 'seqdb_command_duration_seconds';
const DURATION_HELP = 'Command latency from dispatch to result.';

interface TypeStats {
  readonly durations: Histogram;
  readonly results: Map<string, number>;
}

export class CommandStats {
  private readonly byType = new Map<string, TypeStats>();

  /** Records one executed command: its type, `ok` or the error code, and its latency. */
  observe(type: string, result: string, seconds: number): void {
    let stats = this.byType.get(type);
    if (stats === undefined) {
      stats = { durations: new Histogram(LATENCY_BUCKETS_S), results: new Map() };
      this.byType.set(type, stats);
    }
    stats.results.set(result, (stats.results.get(result) ?? 0) + 1);
    stats.durations.observe(seconds);
  }

  /**
   * The two metrics in the Prometheus text format, each series with `labels` (the process's
   * default labels) after its own.
   */
  text(labels: Readonly<Record<string, string>>): string {
    const extra = renderLabels(labels);
    const counts = [`# HELP ${COUNT_NAME} ${COUNT_HELP}`, `# TYPE ${COUNT_NAME} counter`];
    const durations = [`# HELP ${DURATION_NAME} ${DURATION_HELP}`, `# TYPE ${DURATION_NAME} histogram`];
    for (const [type, stats] of this.byType) {
      const t = `type="${escapeLabel(type)}"`;
      for (const [result, n] of stats.results) counts.push(`${COUNT_NAME}{${[t, `result="${escapeLabel(result)}"`, ...extra].join(',')}} ${n}`);
      durations.push(...stats.durations.lines(DURATION_NAME, [t, ...extra]));
    }
    return `${counts.join('\n')}\n\n${durations.join('\n')}\n`;
  }
}
