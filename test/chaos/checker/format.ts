/**
 * Text for people: the summary table of a CheckReport and, per violation, its window of ops.
 */
import type { CheckReport, Violation } from './check.ts';
import type { Op } from './history.ts';

/** Violations printed with their window; the rest are counted. */
const VIOLATIONS_SHOWN_MAX = 5;
const WINDOW_ROWS_MAX = 40;

export function formatReport(report: CheckReport, history: readonly Op[]): string {
  const lines: string[] = [];
  const t0 = history.reduce((m, o) => Math.min(m, o.invokeMs), Infinity);
  lines.push(`history: ${history.length} ops on ${report.sequences} sequence(s)`);
  lines.push(table(['op', 'ok', 'fail', 'unknown'], (['inc', 'incId', 'set', 'get'] as const).map((t) => [
    t, String(report.counts[t].ok), String(report.counts[t].fail), String(report.counts[t].unknown),
  ])));
  lines.push('');
  lines.push(table(['check', 'sequences', 'ops', 'violations', 'undecided', 'result'], report.rows.map((r) => [
    r.check, String(r.sequences), String(r.ops), String(r.violations), String(r.undecided),
    r.violations > 0 ? 'FAIL' : r.undecided > 0 ? 'UNDECIDED' : r.sequences > 0 || r.ops > 0 ? 'pass' : '-',
  ])));
  lines.push('');
  lines.push(`verdict: ${report.verdict.toUpperCase()}`);
  for (const u of report.undecided.slice(0, 10)) lines.push(`  undecided ${u.key}: ${u.reason}`);
  // One of each kind first: a broken run's thousands of duplicates must not hide its stale read.
  const firsts = report.violations.filter((v, i) => report.violations.findIndex((w) => w.check === v.check) === i);
  const shown = [...firsts, ...report.violations.filter((v) => !firsts.includes(v))];
  shown.slice(0, VIOLATIONS_SHOWN_MAX).forEach((v, n) => lines.push('', formatViolation(v, n + 1, history, t0)));
  if (report.violationsTotal > VIOLATIONS_SHOWN_MAX) {
    lines.push('', `... and ${report.violationsTotal - VIOLATIONS_SHOWN_MAX} more violation(s) (the first ones of each check are in report.json)`);
  }
  return lines.join('\n');
}

export function formatViolation(v: Violation, n: number, history: readonly Op[], t0: number): string {
  const lines = [`violation ${n}: ${v.check} on ${v.key || '(history)'}: ${v.detail}`];
  const rows = [...v.window.map((i) => ({ i, weak: false })), ...v.context.map((i) => ({ i, weak: true }))]
    .sort((a, b) => history[a.i]!.invokeMs - history[b.i]!.invokeMs || a.i - b.i);
  const shown = rows.slice(0, WINDOW_ROWS_MAX).map(({ i, weak }) => opRow(history[i]!, i, t0, weak));
  lines.push(table(['#', 'proc', 'op', 'invoke ms', 'complete ms', 'status', 'value', ''], shown));
  if (rows.length > WINDOW_ROWS_MAX) lines.push(`(${rows.length - WINDOW_ROWS_MAX} more ops in the window)`);
  return lines.join('\n');
}

function opRow(op: Op, index: number, t0: number, weak: boolean): string[] {
  const value = op.value === undefined ? '' : op.value === null ? 'nil' : op.value.toString();
  const name = op.type === 'incId' ? `INC ID ${op.token ?? ''}` : op.type.toUpperCase();
  return [
    String(index), String(op.process), name, (op.invokeMs - t0).toFixed(1), (op.completeMs - t0).toFixed(1), op.status, value,
    weak ? '(overlaps; effect unknown)' : '',
  ];
}

export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((s, c) => s.padEnd(widths[c]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
