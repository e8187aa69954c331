/**
 * A hand-written SVG of a run: acknowledged ops per second over time (and failed or unknown
 * attempts), with each fault drawn as a shaded span and a labelled bar in a lane below. Pure.
 */
import type { Op } from './checker/history.ts';
import type { LeaderSpan } from './monitor.ts';

export interface PlotFault {
  readonly kind: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly label: string;
}

export interface PlotInput {
  readonly title: string;
  readonly history: readonly Op[];
  readonly faults: readonly PlotFault[];
  /** The x axis runs from 0 to this (ms); ops after it (the finishing phase) are drawn up to the end. */
  readonly durationMs: number;
  /** Who led each shard over time: one row per shard, coloured by node index, grey for none. */
  readonly leaders?: ReadonlyArray<{ readonly label: string; readonly spans: readonly LeaderSpan[] }>;
}

const W = 1000;
const LEADER_ROW_H = 14;
const NODE_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const LEFT = 60;
const RIGHT = 20;
const TOP = 40;
const PLOT_H = 220;
const LANES = 4;
const LANE_H = 22;
const COLORS: Record<string, string> = {
  kill: '#d62728', 'kill-leader': '#d62728', 'kill-majority': '#8c1d1d', pause: '#9467bd', 'pause-leader': '#9467bd',
  'partition-half': '#ff7f0e', 'isolate-leader': '#ff7f0e', bridge: '#e377c2', loss: '#bcbd22', slow: '#17becf',
  'link-down': '#7f7f7f', 'transfer-leader': '#2ca02c', 'member-cycle': '#8c564b', 'kill-router': '#393b79',
  'pause-router': '#6b6ecf', rebalance: '#31a354',
};

export function throughputSvg(p: PlotInput): string {
  const endMs = p.history.reduce((m, o) => Math.max(m, o.completeMs), Math.max(p.durationMs, 1));
  const bucketMs = Math.max(250, Math.ceil(endMs / 240 / 250) * 250);
  const buckets = Math.ceil(endMs / bucketMs);
  const ok = new Array<number>(buckets).fill(0);
  const bad = new Array<number>(buckets).fill(0);
  for (const o of p.history) {
    const b = Math.min(buckets - 1, Math.max(0, Math.floor(o.completeMs / bucketMs)));
    if (o.status === 'ok') ok[b]!++;
    else bad[b]!++;
  }
  const perSec = (n: number): number => (n * 1000) / bucketMs;
  const yMax = niceMax(Math.max(1, ...ok.map(perSec), ...bad.map(perSec)));
  const x = (ms: number): number => LEFT + ((W - LEFT - RIGHT) * ms) / endMs;
  const y = (v: number): number => TOP + PLOT_H - (PLOT_H * v) / yMax;
  const line = (series: number[]): string =>
    series.map((n, i) => `${i === 0 ? 'M' : 'L'}${x((i + 0.5) * bucketMs).toFixed(1)},${y(perSec(n)).toFixed(1)}`).join(' ');
  const leaders = p.leaders ?? [];
  const leaderTop = TOP + PLOT_H + 26;
  const laneTop = leaderTop + leaders.length * LEADER_ROW_H + (leaders.length > 0 ? 10 : 8);
  const H = laneTop + LANES * LANE_H + 10;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${LEFT}" y="22" font-size="14" font-weight="bold">${esc(p.title)}</text>`,
  ];
  for (const f of p.faults) {
    const w = Math.max(2, x(f.endMs) - x(f.startMs));
    parts.push(`<rect x="${x(f.startMs).toFixed(1)}" y="${TOP}" width="${w.toFixed(1)}" height="${PLOT_H}" fill="${color(f.kind)}" opacity="0.12"/>`);
  }
  parts.push(...axes(x, y, yMax, endMs));
  parts.push(`<path d="${line(ok)}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>`);
  parts.push(`<path d="${line(bad)}" fill="none" stroke="#d62728" stroke-width="1" stroke-dasharray="3,2"/>`);
  if (p.durationMs < endMs) {
    parts.push(`<line x1="${x(p.durationMs)}" y1="${TOP}" x2="${x(p.durationMs)}" y2="${TOP + PLOT_H}" stroke="#555" stroke-dasharray="4,3"/>`);
    const nearEnd = x(p.durationMs) > W - RIGHT - 120;
    parts.push(`<text x="${x(p.durationMs) + (nearEnd ? -3 : 3)}" y="${TOP + 12}" fill="#555"${nearEnd ? ' text-anchor="end"' : ''}>heal; INC ID tokens finish →</text>`);
  }
  leaders.forEach((row, r) => {
    const ly = leaderTop + r * LEADER_ROW_H;
    parts.push(`<text x="${LEFT - 6}" y="${ly + 9}" text-anchor="end" font-size="9">${esc(row.label)}</text>`);
    for (const span of row.spans) {
      const w = Math.max(1, x(span.endMs) - x(span.startMs));
      const fill = span.leader === null ? '#e0e0e0' : NODE_COLORS[span.leader % NODE_COLORS.length]!;
      const title = span.leader === null ? 'no leader' : `leader: node ${span.leader}`;
      parts.push(`<rect x="${x(span.startMs).toFixed(1)}" y="${ly}" width="${w.toFixed(1)}" height="${LEADER_ROW_H - 4}" fill="${fill}"><title>${title}</title></rect>`);
      if (w > 14) {
        const label = span.leader === null ? 'none' : `n${span.leader}`;
        parts.push(`<text x="${(x(span.startMs) + 2).toFixed(1)}" y="${ly + 8}" font-size="8" fill="${span.leader === null ? '#555' : 'white'}">${label}</text>`);
      }
    }
  });
  p.faults.forEach((f, k) => {
    const ly = laneTop + (k % LANES) * LANE_H;
    const w = Math.max(3, x(f.endMs) - x(f.startMs));
    parts.push(`<rect x="${x(f.startMs).toFixed(1)}" y="${ly}" width="${w.toFixed(1)}" height="${LANE_H - 6}" fill="${color(f.kind)}" opacity="0.8"><title>${esc(f.label)}</title></rect>`);
    parts.push(`<text x="${(x(f.startMs) + 3).toFixed(1)}" y="${ly + 12}" fill="black">${esc(f.kind)}</text>`);
  });
  parts.push(`<text x="${W - RIGHT}" y="22" text-anchor="end"><tspan fill="#1f77b4">— ok ops/s</tspan>  <tspan fill="#d62728">- - failed or unknown attempts/s</tspan></text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function axes(x: (ms: number) => number, y: (v: number) => number, yMax: number, endMs: number): string[] {
  const out = [
    `<line x1="${LEFT}" y1="${TOP}" x2="${LEFT}" y2="${TOP + PLOT_H}" stroke="black"/>`,
    `<line x1="${LEFT}" y1="${TOP + PLOT_H}" x2="${W - RIGHT}" y2="${TOP + PLOT_H}" stroke="black"/>`,
  ];
  for (const v of [0, yMax / 2, yMax]) {
    out.push(`<text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end">${Math.round(v)}</text>`);
    out.push(`<line x1="${LEFT}" y1="${y(v)}" x2="${W - RIGHT}" y2="${y(v)}" stroke="#ddd"/>`);
  }
  const stepS = niceMax(endMs / 1000 / 10);
  for (let s = 0; s * 1000 <= endMs; s += stepS) {
    out.push(`<text x="${x(s * 1000)}" y="${TOP + PLOT_H + 16}" text-anchor="middle">${s}s</text>`);
  }
  return out;
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function color(kind: string): string {
  return COLORS[kind] ?? '#444';
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
